"""Model cards that record the whole recipe, through huggingface_hub's ModelCard / ModelCardData / EvalResult.

    write_model_card(output_dir)            # README.md + images/ from the saved run
    build_model_card(output_dir, repo_id=)  # the ModelCard object, e.g. to validate or push

Split by concern: ``run`` reads the saved files, ``metadata`` builds the YAML header, ``recipe`` the
training tables, ``usage`` the snippet, ``build`` puts them through the task family's template.
"""

from .build import CARD_FILENAME, build_model_card, template_for, write_model_card
from .run import RunRecord
from .usage import model_reference

__all__ = ["CARD_FILENAME", "RunRecord", "build_model_card", "model_reference", "template_for", "write_model_card"]

"""The tasks: one folder each (``recipe.py``, ``config.py``, ``card.md``), registered with ``@register_task``.

The kit's own tasks are imported here so ``from hf_transfer_kit.tasks import TextClassificationRecipe`` works; the
registry finds every task, third-party ones included, through the ``hf_transfer_kit.tasks`` entry points
(:mod:`hf_transfer_kit.registry`).
"""

from ..registry import TASKS, get_task, register_task
from .base import Recipe, RunResult
from .causal_lm import CausalLMRecipe
from .distillation import DistillationRecipe
from .fill_mask import MaskedLMPretrainRecipe
from .image_classification import ImageClassificationRecipe
from .question_answering import QuestionAnsweringRecipe
from .seq2seq import Seq2SeqRecipe
from .text import TextRecipe
from .text_classification import TextClassificationRecipe
from .token_classification import TokenClassificationRecipe

__all__ = ["TASKS", "CausalLMRecipe", "DistillationRecipe", "ImageClassificationRecipe", "MaskedLMPretrainRecipe",
           "QuestionAnsweringRecipe", "Recipe", "RunResult", "Seq2SeqRecipe", "TextClassificationRecipe", "TextRecipe",
           "TokenClassificationRecipe", "get_task", "register_task"]

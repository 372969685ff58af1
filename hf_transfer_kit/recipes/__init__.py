"""Task recipes, selected by the config's ``task`` field."""

from __future__ import annotations

from ..errors import ConfigError, closest
from .base import Recipe, RunResult
from .distill import DistillationRecipe
from .image_classification import ImageClassificationRecipe
from .pretrain import MaskedLMPretrainRecipe
from .text_classification import TextClassificationRecipe
from .token_classification import TokenClassificationRecipe
from .question_answering import QuestionAnsweringRecipe
from .causal_lm import CausalLMRecipe
from .seq2seq import Seq2SeqRecipe

RECIPES: dict[str, type[Recipe]] = {TextClassificationRecipe.task: TextClassificationRecipe,
                                    ImageClassificationRecipe.task: ImageClassificationRecipe,
                                    MaskedLMPretrainRecipe.task: MaskedLMPretrainRecipe,
                                    **{alias: MaskedLMPretrainRecipe for alias in MaskedLMPretrainRecipe.aliases}}
RECIPES[TokenClassificationRecipe.task] = TokenClassificationRecipe
RECIPES[DistillationRecipe.task] = DistillationRecipe
RECIPES[QuestionAnsweringRecipe.task] = QuestionAnsweringRecipe
for _generative in (CausalLMRecipe, Seq2SeqRecipe):
    RECIPES.update({name: _generative for name in (_generative.task, *_generative.aliases)})


def recipe_for(task: str) -> type[Recipe]:
    if task not in RECIPES:
        raise ConfigError("task", task, f"unknown task.{closest(task, RECIPES)} Available: {', '.join(RECIPES)}.")
    return RECIPES[task]


__all__ = ["RECIPES", "ImageClassificationRecipe", "MaskedLMPretrainRecipe", "Recipe", "RunResult",
           "TextClassificationRecipe", "recipe_for", "DistillationRecipe",
           "TokenClassificationRecipe", "QuestionAnsweringRecipe", "CausalLMRecipe", "Seq2SeqRecipe"]

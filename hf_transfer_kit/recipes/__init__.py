"""Task recipes, selected by the config's ``task`` field."""

from __future__ import annotations

from ..errors import ConfigError, closest
from .base import Recipe, RunResult
from .image_classification import ImageClassificationRecipe
from .pretrain import MaskedLMPretrainRecipe
from .text_classification import TextClassificationRecipe

RECIPES: dict[str, type[Recipe]] = {TextClassificationRecipe.task: TextClassificationRecipe,
                                    ImageClassificationRecipe.task: ImageClassificationRecipe,
                                    MaskedLMPretrainRecipe.task: MaskedLMPretrainRecipe,
                                    **{alias: MaskedLMPretrainRecipe for alias in MaskedLMPretrainRecipe.aliases}}


def recipe_for(task: str) -> type[Recipe]:
    if task not in RECIPES:
        raise ConfigError("task", task, f"unknown task.{closest(task, RECIPES)} Available: {', '.join(RECIPES)}.")
    return RECIPES[task]


__all__ = ["RECIPES", "ImageClassificationRecipe", "MaskedLMPretrainRecipe", "Recipe", "RunResult",
           "TextClassificationRecipe", "recipe_for"]

"""The task image-classification."""

from .recipe import ImageClassificationRecipe

__all__ = ["ImageClassificationRecipe"]

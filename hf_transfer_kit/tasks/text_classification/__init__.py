"""The task text-classification (single-label, multi-label, regression)."""

from .recipe import TextClassificationRecipe

__all__ = ["TextClassificationRecipe"]

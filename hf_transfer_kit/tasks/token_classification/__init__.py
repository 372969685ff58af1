"""The task token-classification: NER, chunking, POS tagging."""

from .recipe import TokenClassificationRecipe

__all__ = ["TokenClassificationRecipe"]

"""The task distill: a smaller student learns from a fine-tuned teacher."""

from .recipe import DistillationRecipe

__all__ = ["DistillationRecipe"]

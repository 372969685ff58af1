"""Task pair-match: do two sentences match? (A third-party task: this folder is all it takes.)"""

from .recipe import PairMatchRecipe

__all__ = ["PairMatchRecipe"]

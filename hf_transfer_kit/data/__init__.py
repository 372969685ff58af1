"""Data loading for the recipes: Hub names, local files, in-memory datasets and offline builtins."""

from .builtin import BUILTIN_DATASETS, load_builtin
from .text import prepare_splits

__all__ = ["BUILTIN_DATASETS", "load_builtin", "prepare_splits"]

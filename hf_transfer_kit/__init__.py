"""hf_transfer_kit: transfer learning recipes on transformers.Trainer.

    from hf_transfer_kit import TextClassificationRecipe
    TextClassificationRecipe.from_yaml("recipes/configs/nlp/minilm_lora.yaml").run()

Names are imported lazily so ``import hf_transfer_kit`` (and the CLI's ``--help``) stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "RecipeConfig": "config", "load_config": "config", "ConfigError": "errors",
    "Recipe": "tasks", "RunResult": "tasks", "TextClassificationRecipe": "tasks",
    "ImageClassificationRecipe": "tasks", "register_task": "registry", "get_task": "registry",
    "train": "workflow",
    "STRATEGIES": "strategies", "register_strategy": "strategies", "parameter_report": "strategies",
    "load_for_inference": "inference", "load_pipeline": "inference", "classify": "inference",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'hf_transfer_kit' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)

"""Recipe configuration: typed sections, strict YAML loading and dotted overrides."""

from .loader import (
    CONFIG_FILENAME, apply_overrides, config_from_dict, config_to_dict, load_config, save_config,
)
from .schema import BUILTIN_DATASET, BUILTIN_MODEL, DataConfig, HubConfig, ModelConfig, RecipeConfig

__all__ = [
    "BUILTIN_DATASET", "BUILTIN_MODEL", "CONFIG_FILENAME", "DataConfig", "HubConfig", "ModelConfig", "RecipeConfig",
    "apply_overrides", "config_from_dict", "config_to_dict", "load_config", "save_config",
]

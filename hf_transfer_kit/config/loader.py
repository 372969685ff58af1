"""YAML <-> dataclass conversion: strict keys, dotted overrides, and a reproducible dump.

Flow: YAML file -> plain dict -> dotted overrides applied to the dict -> dataclasses. Overrides
act on the dict (not on built objects) so that ``strategy.name=lora`` can switch the strategy's
config class in the same breath as ``strategy.r=16``.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import tempfile
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Optional

import yaml

from ..errors import ConfigError, closest
from .schema import TRAINING_DEFAULTS, DataConfig, HubConfig, ModelConfig, RecipeConfig

SECTIONS: dict[str, type] = {"model": ModelConfig, "data": DataConfig, "hub": HubConfig}
CONFIG_FILENAME = "recipe_config.yaml"


_EXP_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_value(text: str) -> Any:
    """Parse a command-line value the way YAML would, plus floats such as ``3e-4`` that YAML 1.1 reads as strings."""
    value = yaml.safe_load(text) if text != "" else ""
    if isinstance(value, str) and _EXP_FLOAT.fullmatch(value):
        return float(value)
    return value


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a nested dict (in place) and return it."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError("override", item, "write overrides as dotted.key=value, e.g. training.learning_rate=3e-4.")
        key, _, text = item.partition("=")
        parts = key.strip().split(".")
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(key, text, f"'{part}' is a value, not a section; override a key that exists.")
            node = child
        node[parts[-1]] = parse_value(text)
    return raw


def _coerce(value: Any, annotation: Any, param: str) -> Any:
    """Light type check/coercion for the scalar field types our sections use."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Union:
        if value is None:
            return None
        return _coerce(value, args[0], param) if len(args) == 1 else value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(param, value, "use true or false.")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(param, value, "use a whole number.")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(param, value, "use a number, e.g. 0.1.")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(param, value, "use a string.")
    if origin is list:
        if isinstance(value, str):
            return [value]
        if isinstance(value, (list, tuple)):
            return list(value)
        raise ConfigError(param, value, "use a list, e.g. [a, b].")
    return value


def build_dataclass(cls: type, data: Mapping[str, Any] | None, prefix: str) -> Any:
    """Instantiate dataclass ``cls`` from ``data``; unknown keys are errors with a suggestion."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    for key in data:
        if key not in names:
            raise ConfigError(
                f"{prefix}{key}", data[key],
                f"unknown key in '{prefix.rstrip('.') or 'config'}'.{closest(key, names)} Valid keys: {', '.join(names)}.",
            )
    kwargs = {k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    return cls(**kwargs)


def validate_training(training: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``training`` keys against TrainingArguments' fields and coerce string numbers."""
    from transformers import TrainingArguments

    fields = {f.name: f for f in dataclasses.fields(TrainingArguments) if f.init}
    out: dict[str, Any] = {}
    for key, value in training.items():
        if key == "output_dir":
            raise ConfigError("training.output_dir", value, "set the top-level output_dir instead.")
        if key not in fields:
            raise ConfigError(
                f"training.{key}", value,
                f"not a transformers.TrainingArguments field.{closest(key, fields)}",
            )
        default = fields[key].default
        if value is False and isinstance(default, (str, enum.Enum)):
            value = "no"  # YAML 1.1 reads `eval_strategy: no` as false; these fields mean the string "no"
        if isinstance(default, float) and isinstance(value, str):
            try:
                value = float(value)
            except ValueError as err:
                raise ConfigError(f"training.{key}", value, "use a number, e.g. 3e-4.") from err
        out[key] = value
    return out


def config_from_dict(raw: Mapping[str, Any]) -> RecipeConfig:
    """Build a validated :class:`RecipeConfig` from a plain (YAML-shaped) dict."""
    from ..strategies import build_strategy_config

    raw = dict(raw or {})
    top = [f.name for f in dataclasses.fields(RecipeConfig)]
    for key in raw:
        if key not in top:
            raise ConfigError(key, raw[key], f"unknown top-level key.{closest(key, top)} Valid keys: {', '.join(top)}.")
    kwargs: dict[str, Any] = {}
    for key, kind in (("task", str), ("output_dir", str), ("overwrite_output_dir", bool), ("baselines", bool),
                      ("global_batch_size", Optional[int])):
        if key in raw:
            kwargs[key] = _coerce(raw[key], kind, key)
    for name, cls in SECTIONS.items():
        if name in raw:
            if not isinstance(raw[name], Mapping):
                raise ConfigError(name, raw[name], f"'{name}' must be a mapping of keys to values.")
            kwargs[name] = build_dataclass(cls, raw[name], f"{name}.")
    strategy = raw.get("strategy") or {"name": "full"}
    if not isinstance(strategy, Mapping):
        raise ConfigError("strategy", strategy, "write the strategy as a mapping, e.g. {name: lora, r: 8}.")
    kwargs["strategy"] = build_strategy_config(strategy)
    if raw.get("training") is not None:
        if not isinstance(raw["training"], Mapping):
            raise ConfigError("training", raw["training"], "'training' must be a mapping of TrainingArguments fields.")
        kwargs["training"] = dict(raw["training"])
    return RecipeConfig(**kwargs)


def load_config(path: str | os.PathLike | None = None, overrides: Iterable[str] = ()) -> RecipeConfig:
    """Read a YAML recipe (or start from defaults when ``path`` is None) and apply dotted overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError("config", str(path), "the file does not exist; pass the path of a recipe YAML file.")
        raw = yaml.safe_load(p.read_text()) or {}
        if not isinstance(raw, dict):
            raise ConfigError("config", str(path), "the YAML must be a mapping with sections model, data, strategy, training.")
    return config_from_dict(apply_overrides(raw, overrides))


def config_to_dict(config: RecipeConfig) -> dict[str, Any]:
    """The resolved config as a plain dict (what :func:`config_from_dict` reads back)."""
    out = dataclasses.asdict(config)
    out["training"] = dict(config.training)
    return out


def save_config(config: RecipeConfig, directory: str | os.PathLike) -> Path:
    """Write the resolved config as YAML into ``directory`` atomically (temp file, then rename)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / CONFIG_FILENAME
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".config-", suffix=".yaml")
    with os.fdopen(fd, "w") as fh:
        fh.write("# Resolved hf_transfer_kit recipe. Reproduce with: hf-transfer-kit train " + CONFIG_FILENAME + "\n")
        yaml.safe_dump(config_to_dict(config), fh, sort_keys=False)
    os.replace(tmp, target)
    return target


__all__ = [
    "CONFIG_FILENAME", "TRAINING_DEFAULTS", "apply_overrides", "build_dataclass", "config_from_dict",
    "config_to_dict", "load_config", "parse_value", "save_config", "validate_training",
]

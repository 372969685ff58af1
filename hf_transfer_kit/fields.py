"""Dataclass sections from YAML-shaped dicts: strict keys with a closest-key suggestion, light type coercion.

The one builder behind every config section: the recipe's (``model``, ``data``, ``hub``, ``distill``), each
strategy's and each task's data section. It sits below both ``config`` and ``strategies`` so neither has to import
the other to build a section.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, closest, is_secret


def coerce(value: Any, annotation: Any, param: str) -> Any:
    """Light type check/coercion for the scalar field types our sections use."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Union:
        if value is None:
            return None
        return coerce(value, args[0], param) if len(args) == 1 else value
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


def token_hint(key: str) -> str:
    """A pasted token gets told where tokens go (its value is already redacted by ConfigError)."""
    if not is_secret(key):
        return ""
    return " Tokens are never read from the config: set the HF_TOKEN environment variable or run `hf auth login`."


def build_dataclass(cls: type, data: Mapping[str, Any] | None, prefix: str) -> Any:
    """Instantiate dataclass ``cls`` from ``data``; unknown keys are errors with a suggestion."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    for key in data:
        if key not in names:
            raise ConfigError(
                f"{prefix}{key}", data[key],
                f"unknown key in '{prefix.rstrip('.') or 'config'}'.{closest(key, names)}{token_hint(key)} "
                f"Valid keys: {', '.join(names)}.",
            )
    kwargs = {k: coerce(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    return cls(**kwargs)

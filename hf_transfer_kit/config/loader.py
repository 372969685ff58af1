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
from ..fields import coerce, build_dataclass, token_hint
from ..registry import discover, get_task
from ..strategies import build_strategy_config
from .schema import DistillConfig, HubConfig, ModelConfig, RecipeConfig

#: The sections every task shares; ``data`` is the task's own (its ``data_config``).
SECTIONS: dict[str, type] = {"model": ModelConfig, "hub": HubConfig, "distill": DistillConfig}
_SECTION_EXAMPLES = {"distill": "{teacher: outputs/minilm_full, layers: [0, 2, 4]}",
                     "model": "{name_or_path: bert-base-uncased}", "data": "{dataset: builtin:bbc_news}",
                     "hub": "{push_to_hub: true, repo_id: me/my-model}"}
CONFIG_FILENAME = "recipe_config.yaml"
#: The first line of a saved run's resolved config.
SAVED_HEADER = "# Resolved hf_transfer_kit recipe."


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
                raise ConfigError(key, text, f"'{part}' is a value, not a section; use a dotted key that exists, e.g. "
                                  "training.learning_rate=3e-4.")
            node = child
        node[parts[-1]] = parse_value(text)
    return raw


def data_section(values: Mapping[str, Any], section: type, task: str, saved: bool = False) -> dict[str, Any]:
    """The ``data`` keys for ``task``'s section. A key of another task's section is refused with that task named; in a
    saved run's config (``saved``) such keys are dropped: runs saved before each task had its own data section
    recorded every task's data fields, and must still load."""
    own = {f.name for f in dataclasses.fields(section)}
    others = {f.name: name for name, cls in sorted(discover().items()) if cls.task == name
              for f in dataclasses.fields(cls.data_config)}
    out = {}
    for key, value in values.items():
        if key in own or key not in others:
            out[key] = value  # unknown keys get build_dataclass's error, with the closest valid key
        elif not saved:
            raise ConfigError(f"data.{key}", value, f"is a data field of task {others[key]}, not of task {task}; "
                              f"remove it, or set task: {others[key]}. Valid keys for {task}: "
                              f"{', '.join(sorted(own))}.")
    return out


def config_from_dict(raw: Mapping[str, Any], saved: bool = False) -> RecipeConfig:
    """Build a validated :class:`RecipeConfig` from a plain (YAML-shaped) dict (``saved``: a run's resolved config,
    see :func:`data_section`)."""
    raw = dict(raw or {})
    top = [f.name for f in dataclasses.fields(RecipeConfig)]
    for key in raw:
        if key not in top:
            raise ConfigError(key, raw[key], f"unknown top-level key.{closest(key, top)}{token_hint(key)} Valid keys: "
                                            f"{', '.join(top)}.")
    kwargs: dict[str, Any] = {}
    scalars = (("task", str), ("output_dir", str), ("overwrite_output_dir", bool), ("resume", bool),
               ("resume_allow_changes", bool),
               ("baselines", bool), ("global_batch_size", Optional[int]))
    for key, kind in scalars:
        if key in raw:
            kwargs[key] = coerce(raw[key], kind, key)
    task = kwargs.setdefault("task", RecipeConfig.task)
    sections = {**SECTIONS, "data": get_task(task).data_config}
    for name, cls in sections.items():
        if name in raw:
            if not isinstance(raw[name], Mapping):
                raise ConfigError(name, raw[name], f"write '{name}' as a mapping of its keys to values, e.g. "
                                  f"{_SECTION_EXAMPLES[name]}.")
            values = raw[name] if name != "data" else data_section(raw[name], cls, task, saved)
            kwargs[name] = build_dataclass(cls, values, f"{name}.")
    strategy = raw.get("strategy") or {"name": "full"}
    if not isinstance(strategy, Mapping):
        raise ConfigError("strategy", strategy, "write the strategy as a mapping, e.g. {name: lora, r: 8}.")
    kwargs["strategy"] = build_strategy_config(strategy)
    if raw.get("training") is not None:
        if not isinstance(raw["training"], Mapping):
            raise ConfigError("training", raw["training"], "write 'training' as a mapping of TrainingArguments "
                              "fields, e.g. {learning_rate: 3e-4, num_train_epochs: 3}.")
        kwargs["training"] = dict(raw["training"])
    return RecipeConfig(**kwargs)


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML keeps the last one silently: a second
    ``strategy:`` block would replace the first)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} appears twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """A recipe file as a dict: it must exist, be a file, hold a non-empty mapping and name no key twice."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError("config", str(path), "is a directory; pass the recipe YAML file itself (e.g. "
                          "recipes/configs/nlp/minilm_lora.yaml, or RUN/recipe_config.yaml of a saved run).")
    if not p.is_file():
        raise ConfigError("config", str(path), "the file does not exist; pass the path of a recipe YAML file.")
    try:
        raw = yaml.load(p.read_text(), Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        fix = ("remove one of them" if "appears twice" in str(problem) else
               "fix the syntax there, e.g. quote values that contain ': ' or '#'")
        raise ConfigError("config", str(path), f"is not valid YAML ({problem}{at}); {fix}.") from err
    if raw is None:
        raise ConfigError("config", str(path), "is empty; write the recipe in it (see recipes/configs/), or run "
                          "`hf-transfer-kit train` with a shipped config such as recipes/configs/nlp/minilm_lora.yaml.")
    if not isinstance(raw, dict):
        raise ConfigError("config", str(path), "the YAML is not a mapping; write it with top-level sections "
                          "model, data, strategy, training (see recipes/configs/).")
    return raw


def load_config(path: str | os.PathLike | None = None, overrides: Iterable[str] = ()) -> RecipeConfig:
    """Read a YAML recipe (or start from defaults when ``path`` is None) and apply dotted overrides."""
    raw = read_yaml(path) if path is not None else {}
    saved = path is not None and Path(path).read_text().startswith(SAVED_HEADER)
    return config_from_dict(apply_overrides(raw, overrides), saved=saved)


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
        fh.write(SAVED_HEADER + " Reproduce with: hf-transfer-kit train " + CONFIG_FILENAME + "\n")
        yaml.safe_dump(config_to_dict(config), fh, sort_keys=False)
    os.replace(tmp, target)
    return target


__all__ = [
    "CONFIG_FILENAME", "apply_overrides", "config_from_dict", "config_to_dict", "data_section", "load_config",
    "parse_value", "save_config",
]

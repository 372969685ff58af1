"""Render every config field with its help text (what ``train --help`` prints after the usage)."""

from __future__ import annotations

import dataclasses
import textwrap

from ..config.schema import DataConfig, DistillConfig, HubConfig, ModelConfig, RecipeConfig
from ..config.training import KIT_TRAINING_FIELDS, TRAINING_DEFAULTS
from ..registry import discover


def _rows(prefix: str, cls: type) -> list[tuple[str, object, str]]:
    rows = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.type) or f.name in ("strategy", "training", "model", "data", "hub", "distill"):
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        rows.append((f"{prefix}{f.name}", default, f.metadata.get("help", "")))
    return rows


def _format(title: str, rows: list[tuple[str, object, str]]) -> str:
    lines = [f"{title}:"]
    for name, default, help_text in rows:
        lines.append(f"  {name} (default: {default!r})")
        lines += textwrap.wrap(str(help_text), width=100, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)


def config_help() -> str:
    from transformers import TrainingArguments

    from ..strategies import STRATEGIES

    parts = [_format("top level", _rows("", RecipeConfig))]
    for name, cls in (("model", ModelConfig), ("data (every task)", DataConfig), ("hub", HubConfig),
                      ("distill", DistillConfig)):
        parts.append(_format(name, _rows(f"{name.split()[0]}.", cls)))
    common = {f.name for f in dataclasses.fields(DataConfig)}
    for name, task in sorted(discover().items()):
        if task.task != name:  # an alias
            continue
        aliases = f", alias {', '.join(task.aliases)}" if task.aliases else ""
        rows = [row for row in _rows("data.", task.data_config) if row[0][len("data."):] not in common]
        parts.append(_format(f"data (task: {name}{aliases})", rows))
    for name, strategy in sorted(STRATEGIES.items()):
        rows = [(f"strategy.{n}", d, h) for n, d, h in strategy.config_cls.field_help()]
        parts.append(_format(f"strategy (name: {name})", rows))
    training = [(f"training.{name}", default, text) for name, (default, text) in KIT_TRAINING_FIELDS.items()]
    for f in dataclasses.fields(TrainingArguments):
        if not f.init or f.name == "output_dir":
            continue
        default = TRAINING_DEFAULTS.get(f.name, f.default if f.default is not dataclasses.MISSING else None)
        first = " ".join(str(f.metadata.get("help", "")).split()).split(". ")[0]
        training.append((f"training.{f.name}", default, first))
    parts.append(_format("training (the kit's fields, then transformers.TrainingArguments; defaults shown are the "
                         "kit's; num_train_epochs and learning_rate also take auto: docs/training.md)", training))
    return "\n\n".join(parts)

"""The strategy contract and the registry that maps ``strategy.name`` to an implementation.

A strategy decides *which* parameters learn (and whether new ones are added); the recipe decides
everything else. Keeping that split means a new method is one module with a config dataclass and
a class, registered by name -- no if/elif in the recipe.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

from torch import nn

from ..errors import ConfigError, closest
from ..fields import build_dataclass
from .frozen import FROZEN_BLOCK_MODES


@dataclass
class StrategyConfig:
    """Base of every strategy's config. Subclasses add their own fields with help text."""

    name: str = field(default="full", metadata={"help": "Strategy name (see the strategy table in the README)."})
    frozen_blocks: str = field(default="eval", metadata={
        "help": "'eval': blocks with no trainable parameter (embeddings, frozen layers, a frozen backbone) run without "
                "dropout and keep their batch-norm statistics while the model trains; 'train': transformers' default "
                "(dropout on and batch norms updating everywhere). See strategies/frozen.py."})

    #: True when the strategy trains new weights beside a frozen pretrained model (PEFT methods, adapters), which
    #: may then load in k-bit (``model.load_in_4bit``, kbit.py); False when it trains pretrained weights themselves.
    trains_beside_frozen_base: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.frozen_blocks not in FROZEN_BLOCK_MODES:
            raise ConfigError("strategy.frozen_blocks", self.frozen_blocks,
                              f"use one of {', '.join(FROZEN_BLOCK_MODES)}.{closest(str(self.frozen_blocks), FROZEN_BLOCK_MODES)}")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> StrategyConfig:
        return build_dataclass(cls, raw, "strategy.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_help(cls) -> list[tuple[str, Any, str]]:
        """(name, default, help) rows for ``--help``."""
        rows = []
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            rows.append((f.name, default, f.metadata.get("help", "")))
        return rows


@dataclass
class ParameterReport:
    """What a strategy left trainable: the numbers every run log and model card show."""

    trainable: int
    total: int
    trainable_modules: list[str]
    frozen_modules: list[str]

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / max(self.total, 1)

    def summary(self) -> str:
        return f"trainable params: {self.trainable:,} / {self.total:,} ({self.percent:.4f}%)"

    def to_dict(self) -> dict[str, Any]:
        return {"trainable": self.trainable, "total": self.total, "percent": round(self.percent, 4),
                "trainable_modules": self.trainable_modules, "frozen_modules": self.frozen_modules}


def _collapse(model: nn.Module, trainable: bool) -> list[str]:
    """Shortest module names whose parameters are all (un)frozen: a readable list, not 100 leaves."""
    state: dict[str, set[bool]] = {}
    for name, param in model.named_parameters():
        parts = name.split(".")[:-1]
        for i in range(len(parts) + 1):
            state.setdefault(".".join(parts[:i]), set()).add(param.requires_grad)
    wanted = {trainable}
    if state.get("") == wanted:
        return ["<all>"]
    out = [name for name, flags in state.items()
           if name and flags == wanted and state[name.rpartition(".")[0]] != wanted]
    return sorted(out)


def parameter_report(model: nn.Module) -> ParameterReport:
    """Count trainable vs total parameters and name the (un)frozen modules."""
    def numel(p: nn.Parameter) -> int:
        # DeepSpeed ZeRO-3 partitions a parameter in place (its full size is ds_numel); bitsandbytes' 4-bit
        # weights (model.load_in_4bit) store two values per element
        return int(getattr(p, "ds_numel", 0) or p.numel() * (2 if type(p).__name__ == "Params4bit" else 1))

    trainable = sum(numel(p) for p in model.parameters() if p.requires_grad)
    total = sum(numel(p) for p in model.parameters())
    return ParameterReport(trainable, total, _collapse(model, True), _collapse(model, False))


class Strategy(ABC):
    """Prepare a loaded model for training and save/restore what was trained."""

    name: ClassVar[str]
    config_cls: ClassVar[type[StrategyConfig]] = StrategyConfig
    #: True when ``save`` writes a PEFT adapter (adapter_config.json) instead of a full model.
    saves_adapter: ClassVar[bool] = False

    def __init__(self, config: StrategyConfig, peft_task_type: str | None = None) -> None:
        self.config = config
        #: PEFT's task type for the recipe's model (``SEQ_CLS``...), None where PEFT has none (vision).
        self.peft_task_type = peft_task_type
        #: Set by ``apply`` when the strategy trains with layer-wise learning rates or gradual unfreezing
        #: (``layerwise.LayerSchedule``); the recipe then builds its Trainer as ``layerwise.LayerwiseTrainer``.
        self.layer_schedule: Any = None

    def check_training(self, args: Any) -> None:
        """Raise ConfigError for TrainingArguments this strategy cannot train under; runs before the model loads."""

    def callbacks(self) -> list[Any]:
        """TrainerCallbacks the strategy needs while training (AdaLoRA's rank budget); added by the recipe."""
        return []

    @abstractmethod
    def apply(self, model: nn.Module) -> nn.Module:
        """Freeze / wrap ``model``; return the module the Trainer should train. Raise ConfigError on bad settings."""

    def save(self, model: nn.Module, directory: str | Path, state_dict: Optional[dict[str, Any]] = None) -> None:
        """Save what was trained as safetensors (full model by default). ``state_dict``: the whole weights when an
        engine shards the parameters (``launch.whole_state_dict``); None reads them from ``model``."""
        model.save_pretrained(str(directory), state_dict=own_keys(model, state_dict))


def own_keys(model: nn.Module, state_dict: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """``state_dict`` restricted to ``model``'s own entries (a recipe may have detached a training-only module)."""
    if state_dict is None:
        return None
    keys = model.state_dict().keys()
    return {k: v for k, v in state_dict.items() if k in keys}


STRATEGIES: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make ``cls`` selectable as ``strategy.name: <cls.name>``."""
    STRATEGIES[cls.name] = cls
    return cls


def build_strategy_config(raw: Mapping[str, Any]) -> StrategyConfig:
    """Pick the config class from ``raw['name']`` and build it strictly."""
    name = raw.get("name", "full")
    if name not in STRATEGIES:
        raise ConfigError("strategy.name", name,
                          f"unknown strategy.{closest(str(name), STRATEGIES)} Available: {', '.join(sorted(STRATEGIES))}.")
    return STRATEGIES[name].config_cls.from_dict({**raw, "name": name})


def get_strategy(config: StrategyConfig, peft_task_type: str | None = None) -> Strategy:
    return STRATEGIES[config.name](config, peft_task_type)

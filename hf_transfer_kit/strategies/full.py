"""Full fine-tuning: every parameter learns. The strongest baseline when data and compute allow.

Options: layer-wise learning-rate decay and gradual unfreezing (``layerwise.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .base import Strategy, register_strategy
from .layerwise import LayerwiseConfig, build_schedule, check_training_args


@dataclass
class FullConfig(LayerwiseConfig):
    name: str = field(default="full", metadata={"help": "full: train every parameter."})


@register_strategy
class FullStrategy(Strategy):
    name = "full"
    config_cls = FullConfig

    def check_training(self, args: Any) -> None:
        check_training_args(self.config, args)  # type: ignore[arg-type]

    def apply(self, model: nn.Module) -> nn.Module:
        for param in model.parameters():
            param.requires_grad_(True)
        self.layer_schedule = build_schedule(model, self.config)  # type: ignore[arg-type]
        return model

"""Full fine-tuning: every parameter learns. The strongest baseline when data and compute allow."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from .base import Strategy, StrategyConfig, register_strategy


@dataclass
class FullConfig(StrategyConfig):
    name: str = field(default="full", metadata={"help": "full: train every parameter."})


@register_strategy
class FullStrategy(Strategy):
    name = "full"
    config_cls = FullConfig

    def apply(self, model: nn.Module) -> nn.Module:
        for param in model.parameters():
            param.requires_grad_(True)
        return model

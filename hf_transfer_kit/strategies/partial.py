"""Partial fine-tuning: freeze part of the pretrained network, train the rest.

Why it matters for transfer: the bottom layers hold the most general features, so freezing them
cuts compute and memory (no backward through them) and regularises on scarce data. The linear
probe and BitFit are the two extreme, well-studied points of this family, so they are presets.
What stays trainable can also get layer-wise learning rates and be unfrozen gradually (``layerwise.py``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Optional

from torch import nn

from ..errors import ConfigError
from .anatomy import embedding_module_names, head_module_names, layer_stack
from .base import Strategy, register_strategy
from .layerwise import LayerwiseConfig, build_schedule, check_training_args

TRAIN_ONLY = ("head", "bias_and_head")


@dataclass
class PartialConfig(LayerwiseConfig):
    name: str = field(default="partial", metadata={"help": "partial: freeze part of the model, train the rest."})
    freeze_embeddings: bool = field(default=False, metadata={"help": "Freeze the input embeddings."})
    freeze_bottom_layers: int = field(default=0, metadata={"help": "Freeze the N transformer blocks closest to the input."})
    freeze: list[str] = field(
        default_factory=list,
        metadata={"help": "Module names (e.g. bert.pooler) or glob patterns over parameter names (e.g. '*.attention.*') "
                  "to freeze. Each entry must match at least one parameter."},
    )
    train_only: Optional[str] = field(
        default=None,
        metadata={"help": "Preset: 'head' freezes everything but the task head (linear probe); 'bias_and_head' trains "
                  "only bias terms and the head (BitFit). Combined with the fields above."},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.freeze_bottom_layers < 0:
            raise ConfigError("strategy.freeze_bottom_layers", self.freeze_bottom_layers, "use 0 or a positive count.")
        if self.train_only is not None and self.train_only not in TRAIN_ONLY:
            raise ConfigError("strategy.train_only", self.train_only, f"use one of {', '.join(TRAIN_ONLY)} or null.")
        if self.train_only == "head" and self.layerwise:
            raise ConfigError(*self.layerwise_setting(),
                              "only the head trains with train_only=head (linear_probe), so there are no layers to "
                              "give their own learning rate or unfreeze; remove it, or use strategy partial / full.")


def _matches(entry: str, param_name: str) -> bool:
    if any(ch in entry for ch in "*?["):
        return fnmatch.fnmatchcase(param_name, entry)
    return param_name == entry or param_name.startswith(entry + ".")


@register_strategy
class PartialStrategy(Strategy):
    name = "partial"
    config_cls = PartialConfig

    def check_training(self, args: Any) -> None:
        check_training_args(self.config, args)  # type: ignore[arg-type]

    def apply(self, model: nn.Module) -> nn.Module:
        cfg: PartialConfig = self.config  # type: ignore[assignment]
        params = dict(model.named_parameters())
        frozen: set[str] = set()

        if cfg.freeze_embeddings:
            frozen |= {n for n in params for e in embedding_module_names(model) if _matches(e, n)}
        if cfg.freeze_bottom_layers:
            stack_name, stack = layer_stack(model)
            if cfg.freeze_bottom_layers > len(stack):
                raise ConfigError("strategy.freeze_bottom_layers", cfg.freeze_bottom_layers,
                                  f"the model has {len(stack)} layers in '{stack_name}'; use at most {len(stack)}.")
            prefixes = [f"{stack_name}.{i}" for i in range(cfg.freeze_bottom_layers)]
            frozen |= {n for n in params for p in prefixes if _matches(p, n)}
        for entry in cfg.freeze:
            hit = {n for n in params if _matches(entry, n)}
            if not hit:
                example = ", ".join(list(params)[:3])
                raise ConfigError("strategy.freeze", entry,
                                  f"matches no parameter; use a module name or glob over parameter names such as {example}.")
            frozen |= hit
        heads = head_module_names(model)
        if cfg.train_only is not None:
            keep = {n for n in params if any(_matches(h, n) for h in heads)}
            if cfg.train_only == "bias_and_head":
                keep |= {n for n in params if n.endswith(".bias")}
            frozen |= set(params) - keep

        for n, p in params.items():
            p.requires_grad_(n not in frozen)
        self.layer_schedule = build_schedule(model, cfg)
        return model


@dataclass
class LinearProbeConfig(PartialConfig):
    name: str = field(default="linear_probe", metadata={"help": "linear_probe: train only the task head."})
    train_only: Optional[str] = field(default="head", metadata={"help": "Fixed to 'head' for this preset."})
    cache_features: bool = field(default=True, metadata={
        "help": "Run the frozen backbone once over the training and validation splits and train the head on the "
                "cached features (probe.py): seconds instead of an epoch's forward passes per epoch. No random "
                "augmentation then; false trains through the backbone every step."})


@register_strategy
class LinearProbeStrategy(PartialStrategy):
    name = "linear_probe"
    config_cls = LinearProbeConfig


@dataclass
class BitFitConfig(PartialConfig):
    name: str = field(default="bitfit", metadata={"help": "bitfit: train only bias terms and the task head."})
    train_only: Optional[str] = field(default="bias_and_head", metadata={"help": "Fixed to 'bias_and_head' for this preset."})


@register_strategy
class BitFitStrategy(PartialStrategy):
    name = "bitfit"
    config_cls = BitFitConfig

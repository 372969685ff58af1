"""Bottleneck adapters (Houlsby / Pfeiffer / parallel) through the kit's registered PEFT method.

Small down-up MLPs inserted in every block, initialised to the identity: the pretrained network is
untouched, and a few % of parameters adapt it -- one base model can serve many tasks by swapping adapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

from .base import register_strategy
from .peft_method import PeftStrategy, PeftStrategyConfig


@dataclass
class AdapterStrategyConfig(PeftStrategyConfig):
    name: str = field(default="adapter", metadata={"help": "adapter: bottleneck adapters (Houlsby, Pfeiffer, "
                      "parallel); fields of hf_transfer_kit.adapters.BottleneckConfig."})
    method: Optional[str] = field(default="BOTTLENECK", metadata={"help": "Always BOTTLENECK."})

    default_method: ClassVar[Optional[str]] = "BOTTLENECK"
    default_options: ClassVar[dict[str, Any]] = {"placement": "houlsby", "reduction_factor": 16}

    @classmethod
    def field_help(cls) -> list[tuple[str, Any, str]]:
        import hf_transfer_kit.adapters  # noqa: F401  (registers the method with PEFT)

        return super().field_help()

    @classmethod
    def from_dict(cls, raw: Any) -> PeftStrategyConfig:
        import hf_transfer_kit.adapters  # noqa: F401  (registers the method with PEFT)

        if "bottleneck_size" in raw:  # an explicit size replaces the default reduction factor
            raw = {"reduction_factor": None, **raw}
        return super().from_dict(raw)


@register_strategy
class AdapterStrategy(PeftStrategy):
    name = "adapter"
    config_cls = AdapterStrategyConfig

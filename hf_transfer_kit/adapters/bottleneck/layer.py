"""Tuner layers that insert bottleneck adapters around existing modules.

Two wrappers, because the placements read different tensors: Houlsby/Pfeiffer adapters transform a
sublayer's *output* (``SequentialBottleneckLayer`` around an ``nn.Linear``), the parallel adapter reads
the FFN's *input* (``ParallelBottleneckLayer`` around the FFN block). Both only add to tensors before the
block's residual add and LayerNorm, which is where the papers place them.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional, Union

import torch
from peft.tuners.tuners_utils import BaseTunerLayer
from peft.utils import PeftError
from torch import nn

from .config import BottleneckConfig

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "swish": nn.SiLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


#: Attribute holding the per-adapter-name modules; its name starts with ``BottleneckModel.prefix`` as PEFT expects.
ADAPTER_DICT = "bottleneck_adapter"


class BottleneckMergeError(PeftError, ValueError):
    """Raised on merge: a bottleneck adapter adds a non-linear layer, which no weight matrix can absorb."""


def merge_error() -> BottleneckMergeError:
    """The error for any attempt to merge; says what to do instead."""
    return BottleneckMergeError(
        "Bottleneck adapters cannot be merged: they add new layers (down-projection, "
        "non-linearity, up-projection) that cannot be folded into the base model's weights, so merge_adapter() and "
        "merge_and_unload() are not supported. Export unmerged instead: model.save_pretrained(path) and later "
        "PeftModel.from_pretrained(base_model, path); or model.unload() for the base model without the adapter."
    )


class BottleneckAdapter(nn.Module):
    """``scale * up(act(down(dropout(h))))``, the adapter block of Houlsby et al. (2019).

    Returns only the adapter's contribution: the wrapping layer decides where to add it.
    """

    def __init__(self, features: int, bottleneck_size: int, config: BottleneckConfig) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.down = nn.Linear(features, bottleneck_size)
        self.act = _ACTIVATIONS[config.non_linearity]()
        self.up = nn.Linear(bottleneck_size, features)
        self.scale: Union[nn.Parameter, float] = (
            nn.Parameter(torch.ones(())) if config.scaling == "learned" else float(config.scaling)
        )
        if config.init_weights:
            # A zero up-projection makes the adapter output exactly 0, so training starts from the base model.
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        # The adapter may be kept in float32 under a half-precision base (PEFT's autocast_adapter_dtype).
        x = hidden.to(self.down.weight.dtype)
        return (self.up(self.act(self.down(self.dropout(x)))) * self.scale).to(hidden.dtype)


class BottleneckLayer(nn.Module, BaseTunerLayer):
    """Holds one :class:`BottleneckAdapter` per adapter name around ``base_layer``; subclasses place them."""

    adapter_layer_names = (ADAPTER_DICT,)

    def __init__(self, base_layer: nn.Module, adapter_name: str, features: int, bottleneck_size: int,
                 config: BottleneckConfig) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.features = features
        self.bottleneck_adapter = nn.ModuleDict()
        self.merged_adapters: list[str] = []
        self._disable_adapters = False
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, bottleneck_size, config)

    def update_layer(self, adapter_name: str, bottleneck_size: int, config: BottleneckConfig) -> None:
        """Add adapter ``adapter_name``, on the device and dtype of the wrapped module."""
        adapter = BottleneckAdapter(self.features, bottleneck_size, config)
        reference = next(self.base_layer.parameters(), None)
        # Under low_cpu_mem_usage the adapter is created on "meta" and filled from the checkpoint later.
        if reference is not None and not any(p.is_meta for p in adapter.parameters()):
            dtype = reference.dtype if reference.dtype.is_floating_point else None
            adapter.to(device=reference.device, dtype=dtype)
        self.bottleneck_adapter[adapter_name] = adapter
        # Re-applying the active set leaves a newly added, inactive adapter frozen.
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)

    def active_bottlenecks(self) -> list[BottleneckAdapter]:
        """The adapters that take part in the forward pass (none while adapters are disabled)."""
        if self.disable_adapters:
            return []
        return [self.bottleneck_adapter[name] for name in self.active_adapters if name in self.bottleneck_adapter]

    def merge(self, safe_merge: bool = False, adapter_names: Optional[list[str]] = None) -> None:
        raise merge_error()

    def unmerge(self) -> None:
        """Nothing to undo: merging always fails, so no adapter is ever merged."""

    def __repr__(self) -> str:
        return "bottleneck." + super().__repr__()


class SequentialBottleneckLayer(BottleneckLayer):
    """Houlsby/Pfeiffer placement around an ``nn.Linear``: ``y = base(x); y + adapter(y)``.

    Wrapping the sublayer's output projection (e.g. BERT's ``output.dense``) puts the adapter before the
    dropout, residual add and LayerNorm of that sublayer. Several active adapters are stacked.
    """

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        result = self.base_layer(x, *args, **kwargs)
        for adapter in self.active_bottlenecks():
            result = result + adapter(result)
        return result


class ParallelBottleneckLayer(BottleneckLayer):
    """Parallel placement (He et al., 2022): the FFN output becomes ``ffn(x) + adapter(x)`` for FFN input ``x``.

    Two kinds of FFN module are wrapped, told apart by their ``forward`` signature:

    * FFN blocks ``forward(x)`` returning the FFN output (ViT ``mlp``, DistilBERT ``ffn``): the adapter
      output is added to the result.
    * BERT-style ``XOutput.forward(hidden_states, input_tensor)`` (called positionally), which compute
      ``LayerNorm(dense(hidden_states) + input_tensor)`` with ``input_tensor`` the FFN input: the adapter
      output is added to ``input_tensor``, which lands it on the FFN output before the residual LayerNorm.

    Several active adapters are summed.
    """

    def __init__(self, base_layer: nn.Module, adapter_name: str, features: int, bottleneck_size: int,
                 config: BottleneckConfig) -> None:
        super().__init__(base_layer, adapter_name, features, bottleneck_size, config)
        self.receives_ffn_input_as_residual = _receives_ffn_input_as_residual(base_layer)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        adapters = self.active_bottlenecks()
        if not adapters:
            return self.base_layer(x, *args, **kwargs)
        if self.receives_ffn_input_as_residual:
            ffn_input, *rest = args
            ffn_input = ffn_input + sum(adapter(ffn_input) for adapter in adapters)
            return self.base_layer(x, ffn_input, *rest, **kwargs)
        return self.base_layer(x, *args, **kwargs) + sum(adapter(x) for adapter in adapters)


def _receives_ffn_input_as_residual(module: nn.Module) -> bool:
    """True for BERT-style ``forward(hidden_states, input_tensor)`` output modules, False for ``forward(x)`` FFNs."""
    positional = [
        p for p in inspect.signature(module.forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(positional) == 2

"""Training FLOPs of one example: the work a strategy really asks of the matmul units (the MFU columns' numerator).

The usual rule, 6 x parameters x tokens, assumes every weight gets a gradient and every activation a backward pass.
Frozen strategies do neither -- a linear probe runs the backbone forward only, ``partial`` stops its backward at the
lowest trained block (``strategy.freeze_bottom_layers``), LoRA computes weight gradients for its adapters only -- so
that rule made them look faster than the hardware (106 % and 129 % of the fp32 peak). :func:`training_flops` counts
what is actually done, from the model's own layer stack and its ``requires_grad`` flags:

* forward: every matmul layer that runs (``nn.Linear``, convolutions, GPT-2's ``Conv1D``; adapter matrices
  included), 2 FLOPs per multiply-add, from the shapes it sees;
* activation gradients: the same FLOPs again for the layers in the lowest block with a trainable parameter and every
  block above it up to the head (blocks as ``strategies.frozen.blocks`` defines them, bottom first) -- autograd
  never walks below that block;
* weight gradients: the same FLOPs again for each matmul layer whose weight is trainable.

Full fine-tuning therefore counts 6 x matmul parameters x tokens, a linear probe ~2 x, LoRA ~4 x. Not counted, in
either direction: attention's score matmuls (QK^T and the weighted sum over V; at 128 tokens MiniLM-L6 they add ~6 %
to the linear layers' work), embedding lookups, normalisation, activations, biases, IA3 scaling vectors, the
recomputation of activation checkpointing -- model FLOPs, the usual MFU convention. The lowest trained block is
counted whole, although its first layers need no input gradient: at most one block's worth of over-counting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from hf_transfer_kit.strategies.anatomy import head_module_names
from hf_transfer_kit.strategies.frozen import blocks

MATMUL_LAYERS = (nn.Linear, nn.modules.conv._ConvNd, Conv1D)
#: Sequence lengths the per-layer cost of a text model is read at (it is affine in the length; see text_layer_flops).
PROBE_LENGTHS = (8, 16)


@dataclass(frozen=True)
class StepFlops:
    """FLOPs of one training example, by the part of the step that does them."""

    forward: float
    activation_gradients: float
    weight_gradients: float

    @property
    def total(self) -> float:
        return self.forward + self.activation_gradients + self.weight_gradients

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "total": self.total}


def unwrapped(model: nn.Module) -> nn.Module:
    """The transformers model under a PEFT wrapper (its layers, adapters injected), or the model itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def layer_flops(model: nn.Module, inputs: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Forward FLOPs of each matmul layer in one forward pass of ``model(**inputs)``, by module name (names as in
    :func:`unwrapped`). Read from the shapes each layer sees, so only layers that run count (not PEFT's kept copy of
    the original head); no gradient is recorded and every module's train/eval mode is restored afterwards."""
    inner = unwrapped(model)
    found: dict[str, float] = {}
    handles = []

    def hook(name: str) -> Any:
        def count(module: nn.Module, args: Any, output: Any) -> None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(module, nn.Linear):
                per_output = module.in_features
            elif isinstance(module, Conv1D):
                per_output = module.weight.shape[0]
            else:  # a convolution: each output element is a dot product over (in / groups) x kernel
                per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
            found[name] = found.get(name, 0.0) + 2.0 * out.numel() * per_output
        return count

    for name, module in inner.named_modules():
        if isinstance(module, MATMUL_LAYERS):
            handles.append(module.register_forward_hook(hook(name)))
    modes = {module: module.training for module in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    return found


def text_layer_flops(model: nn.Module, tokens: float) -> dict[str, float]:
    """Forward FLOPs of each matmul layer for one text example of ``tokens`` tokens (a mean length may be
    fractional). A layer's cost is affine in the sequence length -- per-token layers grow with it, per-example ones
    (BERT's pooler, the classifier on [CLS]) do not -- so it is read at two lengths and interpolated."""
    device = next(model.parameters()).device
    short, long = (layer_flops(model, {"input_ids": torch.ones((1, n), dtype=torch.long, device=device)})
                   for n in PROBE_LENGTHS)
    low, high = PROBE_LENGTHS
    return {name: short.get(name, 0.0) + (long.get(name, 0.0) - short.get(name, 0.0)) * (tokens - low) / (high - low)
            for name in short.keys() | long.keys()}


def training_flops(model: nn.Module, forward: Mapping[str, float]) -> StepFlops:
    """Training FLOPs of one example: forward through every matmul layer, activation gradients from the lowest block
    with a trainable parameter up to the head, weight gradients for the matmul layers whose weight is trainable.

    ``forward`` maps matmul layer names (as in :func:`unwrapped`) to their forward FLOPs per example
    (:func:`layer_flops`, :func:`text_layer_flops`). Blocks are ``strategies.frozen.blocks`` (embeddings or stem,
    each block of the layer stack, the backbone's other children) plus the head modules, ordered bottom to top by
    where their parameters are registered; a matmul layer outside all of them is a block of its own. See the module
    docstring for what is not counted.
    """
    inner = unwrapped(model)
    modules = dict(inner.named_modules())
    position = {id(p): i for i, (_, p) in enumerate(inner.named_parameters())}
    units = [*blocks(inner), *(modules[name] for name in head_module_names(inner))]
    unit_of: dict[int, nn.Module] = {}
    for unit in units:
        for sub in unit.modules():
            unit_of.setdefault(id(sub), unit)

    def bottom(unit: nn.Module) -> float:  # where a block sits: its first registered parameter
        return min((position[id(p)] for p in unit.parameters() if id(p) in position), default=math.inf)

    trained = [bottom(unit) for unit in {id(u): u for u in [*units, *(modules[n] for n in forward)]}.values()
               if any(p.requires_grad for p in unit.parameters())]
    lowest = min(trained, default=math.inf)
    activation = weight = 0.0
    for name, flops in forward.items():
        layer = modules[name]
        if bottom(unit_of.get(id(layer), layer)) >= lowest:
            activation += flops
        if getattr(layer, "weight", None) is not None and layer.weight.requires_grad:
            weight += flops
    return StepFlops(forward=float(sum(forward.values())), activation_gradients=activation, weight_gradients=weight)

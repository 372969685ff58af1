"""Which attention kernel runs when: ``model.attn_implementation: auto``.

Why this exists: on a CPU, PyTorch's fused attention (``sdpa``) has a fast forward pass but a slow backward pass.
Measured on MiniLM-L6 (bf16 autocast, 2 cores, batch 16 x 128 tokens; ``benchmarks/``): a training step with the
eager attention took ~10 % less time than with ``sdpa`` (6 % at 4 x 512 tokens), while evaluation with ``sdpa`` was
1.4x (128 tokens) to 2.2x (512 tokens) faster than eager. So on a CPU the kit trains with eager attention and
evaluates / predicts with ``sdpa``, switching through transformers' own ``set_attn_implementation`` whenever the
model changes between ``train()`` and ``eval()`` mode. The maths are the same kernel-for-kernel (softmax of scaled
dot products); only the speed differs. On a GPU, ``sdpa`` (flash / memory-efficient kernels) wins both ways and
nothing is switched. Any explicit ``model.attn_implementation`` turns this off.
"""

from __future__ import annotations

from typing import Any

import torch

TRAIN_ON_CPU, EVALUATE = "eager", "sdpa"


def known_implementations() -> list[str]:
    """Attention implementations transformers knows by name ('auto' is the kit's own, see the module docstring)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    return ["auto", "eager", *ALL_ATTENTION_FUNCTIONS.valid_keys()]


def switch_attention_by_mode(model: torch.nn.Module, device: torch.device, setting: str = "auto") -> bool:
    """On a CPU with ``setting == 'auto'``: eager attention in training mode, ``sdpa`` in eval mode.

    The switch is a forward pre-hook on the model's backbone (``model.base_model``), which its task head calls as
    a module -- also under PEFT and DDP wrappers, which call the outer model's ``forward`` directly. Returns whether
    it was installed: not for GPUs, explicit settings, models without attention or without ``sdpa``, or models
    whose attention cannot be switched after loading."""
    config = getattr(model, "config", None)
    backbone = getattr(model, "base_model", None)
    if setting != "auto" or device.type != "cpu" or config is None or getattr(config, "_attn_implementation",
                                                                                None) != EVALUATE:
        return False
    if not isinstance(backbone, torch.nn.Module) or backbone is model or not model._can_set_attn_implementation():
        return False
    try:
        model.set_attn_implementation(TRAIN_ON_CPU)
        model.set_attn_implementation(EVALUATE)
    except (ValueError, ImportError):  # a model without an eager path: keep what it loaded with
        return False
    current = [EVALUATE]

    def pick(module: torch.nn.Module, args: Any) -> None:
        wanted = TRAIN_ON_CPU if module.training and torch.is_grad_enabled() else EVALUATE
        if current[0] != wanted:
            model.set_attn_implementation(wanted)
            current[0] = wanted

    backbone.register_forward_pre_hook(pick)
    return True

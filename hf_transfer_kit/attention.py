"""Which attention kernel runs when: ``model.attn_implementation: auto``.

Why this exists: on a CPU, PyTorch's fused attention (``sdpa``) has a fast forward pass but a slow backward pass.
Measured on MiniLM-L6 (bf16 autocast, 2 cores, batch 16 x 128 tokens; ``benchmarks/``): a training step with the
eager attention took ~10 % less time than with ``sdpa`` (6 % at 4 x 512 tokens), while evaluation with ``sdpa`` was
1.4x (128 tokens) to 2.2x (512 tokens) faster than eager. So on a CPU the kit trains with eager attention and
evaluates / predicts with ``sdpa``, switching through transformers' own ``set_attn_implementation`` whenever the
model changes between ``train()`` and ``eval()`` mode. The maths are the same kernel-for-kernel (softmax of scaled
dot products); only the speed differs. On a GPU, ``sdpa`` (flash / memory-efficient kernels) wins both ways and
nothing is switched. Any explicit ``model.attn_implementation`` turns this off.

Decided per hardware, by measurement: the switch is made only where it was measured to win, bf16 autocast on a CPU
with native bf16 (AMX / AVX512-BF16). Measured again on a 2-core Xeon with AMX (MiniLM-L6 full fine-tuning, batch
16 x 128, interleaved, 2026-12-07): eager / sdpa per training step = 0.81 in bf16, 0.96 in fp32. In fp32 the gain is
within this machine's noise, and on an AVX2-only CPU (fp32 there, bf16 being emulated) the kit measured 1.055 x the
hand-written Trainer's step for full fine-tuning with this switch on, which it was the suspect for (issue 21); so
fp32 runs keep transformers' default (``sdpa``) for training too. A per-run start-up probe was tried and rejected: one
attention layer timed alone ranked the kernels differently from the whole model (eager / sdpa 1.04 in bf16).
"""

from __future__ import annotations

from typing import Any

import torch

from .hardware import bf16_native

TRAIN_ON_CPU, EVALUATE = "eager", "sdpa"


def known_implementations() -> list[str]:
    """Attention implementations transformers knows by name ('auto' is the kit's own, see the module docstring)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    return ["auto", "eager", *ALL_ATTENTION_FUNCTIONS.valid_keys()]


def switch_attention_by_mode(model: torch.nn.Module, device: torch.device, setting: str = "auto",
                             bf16: bool = True, train_kernel: str = TRAIN_ON_CPU) -> bool:
    """On a CPU with ``setting == 'auto'``, training in bf16 autocast (``bf16``) where bf16 is native: eager attention
    in training mode (``train_kernel``: ``eager``, or ``dropout.training_attention``'s eager with the CPU dropout),
    ``sdpa`` in eval mode.

    The switch is a forward pre-hook on the model's backbone (``model.base_model``), which its task head calls as
    a module -- also under PEFT and DDP wrappers, which call the outer model's ``forward`` directly. Returns whether
    it was installed: not for GPUs, explicit settings, models without attention or without ``sdpa``, or models
    whose attention cannot be switched after loading, and not where it was not measured to win (fp32, or bf16
    emulated on a CPU without native bf16: module docstring)."""
    if not (bf16 and bf16_native()):
        return False
    config = getattr(model, "config", None)
    backbone = getattr(model, "base_model", None)
    if setting != "auto" or device.type != "cpu" or config is None or getattr(config, "_attn_implementation",
                                                                                None) != EVALUATE:
        return False
    if not isinstance(backbone, torch.nn.Module) or backbone is model or not model._can_set_attn_implementation():
        return False
    try:
        model.set_attn_implementation(train_kernel)
        model.set_attn_implementation(EVALUATE)
    except (ValueError, ImportError):  # a model without an eager path: keep what it loaded with
        return False
    current = [EVALUATE]

    def pick(module: torch.nn.Module, args: Any) -> None:
        wanted = train_kernel if module.training and torch.is_grad_enabled() else EVALUATE
        if current[0] != wanted:
            model.set_attn_implementation(wanted)
            current[0] = wanted

    backbone.register_forward_pre_hook(pick)
    return True

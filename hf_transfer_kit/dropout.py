"""Dropout on a CPU without a random draw per element: ``model.fast_dropout`` (on by default).

Why this exists: PyTorch's CPU dropout (``aten::bernoulli_``) draws one random number per element. In a profile of a
bf16 MiniLM-L6 training step (``benchmarks/profile_step.py``, docs/benchmarks.md) dropout took 35 % of a full
fine-tuning step and 48 % of a LoRA step -- more than all the matmuls -- two thirds of it on the attention
probabilities (heads x tokens x tokens per example). Here each 64-bit draw of the same generator
(``torch.Tensor.random_``, so ``training.seed``, checkpoints and resumption govern it as before) gives four 16-bit
lanes, and an element is kept when its lane clears a threshold: the same Bernoulli mask, 2x cheaper forward and
backward together (1.8x on a 16 x 12 x 128 x 128 bf16 tensor here). The rate is rounded to a multiple of 1/65536
(0.1 becomes 0.100006) and the kept values are scaled by the inverse of that rounded rate, so every output's
expectation equals its input exactly, as with ``torch.nn.functional.dropout``. GPUs keep PyTorch's dropout (fused,
counter-based RNG): this acts on CPU tensors only.

Where it acts: every ``torch.nn.Dropout`` module of the model after the strategy is applied (hidden states,
embeddings, the head, LoRA's ``lora_dropout``), and -- for the model families whose eager attention it reproduces
exactly (``EXACT_EAGER``, checked by tests) -- the attention probabilities' dropout, through an attention function
registered with transformers' ``AttentionInterface`` that the CPU training switch of ``attention.py`` selects instead
of ``eager``. Measured on/off in ``python benchmarks/run.py`` (the "torch dropout" rows).
"""

from __future__ import annotations

from typing import Any, Optional

import torch

#: The attention function name registered with transformers (``register_attention``).
EAGER_WITH_CPU_DROPOUT = "hftk_eager"
#: Model types whose own eager attention is exactly ``eager_attention`` below (scores, additive mask, softmax in the
#: scores' dtype, dropout, weighted sum); tests/test_dropout.py checks each against the model's own eager kernel.
EXACT_EAGER = ("bert", "roberta", "xlm-roberta", "camembert", "electra", "distilbert")
_LANES = 65536
#: The profiler range every CPU dropout runs in (``benchmarks/profile_step.py`` counts its ops as dropout).
PROFILER_RANGE = "hftk::cpu_dropout"


class _MaskedScale(torch.autograd.Function):
    """``x * keep / (1 - p)`` with the boolean mask saved for backward (as ``native_dropout`` saves its own)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float) -> torch.Tensor:  # type: ignore[override]
        threshold = round(p * _LANES)
        count = x.numel()
        draws = torch.empty((count + 3) // 4, dtype=torch.int64, device=x.device)
        # the full signed 64-bit range (random_() alone would leave the top bit clear); 4 int16 lanes a draw
        lanes = draws.random_(-2 ** 63, 2 ** 63 - 1).view(torch.int16)[:count].view(x.shape)
        keep = lanes >= threshold - _LANES // 2
        ctx.scale = _LANES / (_LANES - threshold)
        ctx.save_for_backward(keep)
        return x.mul(keep).mul_(ctx.scale)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (keep,) = ctx.saved_tensors
        return grad.mul(keep).mul_(ctx.scale), None


def cpu_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``torch.nn.functional.dropout`` with the CPU mask drawn 4 elements a draw (module docstring); PyTorch's own
    where there is nothing to draw (eval, p == 0, p >= 1 - 1/65536) or the tensor is not on a CPU."""
    if not training or p <= 0 or x.device.type != "cpu" or round(p * _LANES) >= _LANES or x.numel() == 0:
        return torch.nn.functional.dropout(x, p, training)
    with torch.profiler.record_function(PROFILER_RANGE):
        return _MaskedScale.apply(x, p)


class CpuDropout(torch.nn.Dropout):
    """``torch.nn.Dropout`` drawing its mask as ``cpu_dropout`` does; same ``p``, no parameters or buffers."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return cpu_dropout(input, self.p, self.training)


def use_cpu_dropout(model: torch.nn.Module, device: torch.device, enabled: bool = True) -> int:
    """Replace every ``torch.nn.Dropout`` of ``model`` by ``CpuDropout`` when training on a CPU; the count replaced.

    The state dict, the saved model and its config are unchanged (dropout holds no weights)."""
    if not enabled or device.type != "cpu":
        return 0
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Dropout:
                setattr(parent, name, CpuDropout(child.p, child.inplace))
                replaced += 1
    return replaced


def eager_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    attention_mask: Optional[torch.Tensor], scaling: Optional[float] = None, dropout: float = 0.0,
                    **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT-family eager attention (``EXACT_EAGER``) with the probabilities' dropout drawn as ``cpu_dropout`` does."""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = torch.nn.functional.softmax(weights, dim=-1)
    weights = cpu_dropout(weights, dropout, module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def register_attention() -> str:
    """Register ``eager_attention`` (and eager's additive mask) with transformers under ``EAGER_WITH_CPU_DROPOUT``;
    idempotent. Returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(EAGER_WITH_CPU_DROPOUT, eager_attention)
    AttentionMaskInterface.register(EAGER_WITH_CPU_DROPOUT, eager_mask)
    return EAGER_WITH_CPU_DROPOUT


def training_attention(model: torch.nn.Module, enabled: bool = True) -> str:
    """The eager kernel the CPU training switch should use: ours where the model family's eager is exactly it and
    ``enabled`` (``model.fast_dropout``), else transformers' ``eager``."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if enabled and model_type in EXACT_EAGER:
        return register_attention()
    return "eager"

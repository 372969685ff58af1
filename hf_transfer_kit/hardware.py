"""Hardware probes that choose defaults. Detected at run time, never assumed."""

from __future__ import annotations

import platform

import torch


def bf16_native() -> bool:
    """True where bf16 matmuls run natively: a CUDA device with bf16, or a CPU with AMX / AVX512-BF16.

    On such CPUs bf16 matmuls measured ~6x faster than fp32 here; elsewhere bf16 is emulated and slower,
    which is why ``training.bf16: auto`` asks this instead of defaulting either way.
    """
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def describe() -> str:
    """One line naming the device the run used (for logs and model cards)."""
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"

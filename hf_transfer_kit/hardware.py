"""Hardware probes that choose defaults. Detected at run time, never assumed."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import torch

#: Packages whose versions decide whether a run reproduces.
VERSIONED_PACKAGES = ("hf-transfer-kit", "transformers", "torch", "peft", "datasets", "accelerate",
                      "evaluate", "huggingface_hub", "safetensors")


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


def environment() -> dict[str, Any]:
    """Hardware, Python and library versions of this process (what metrics.json records as ``environment``)."""
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {"hardware": describe(), "python": platform.python_version(), "platform": platform.platform(terse=True),
            "versions": versions}


#: CPU flags that decide which precision is fast here (AMX / AVX512-BF16: native bf16 matmuls).
_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")


def describe_machine() -> dict:
    """The machine a benchmark ran on: CPU model, cores, the flags that pick the precision, GPU, library versions.

    Why a dict, not a line: benchmark results are only comparable between runs on the same kind of machine, so the
    results file records everything that moves the numbers.
    """
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:  # not Linux: the model from platform, no flags
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu = {"name": props.name, "count": torch.cuda.device_count(), "memory_gb": round(props.total_memory / 2 ** 30, 1),
               "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda}
    return {"cpu": model, "logical_cpus": os.cpu_count(), "usable_cpus": usable, "torch_threads": torch.get_num_threads(),
            "cpu_flags": {flag: flag in flags for flag in _CPU_FLAGS}, "bf16_native": bf16_native(), "gpu": gpu,
            **environment()}

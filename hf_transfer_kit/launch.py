"""Turn the ``training`` section into TrainingArguments kwargs for the machine and launcher at hand.

Accelerate (under ``accelerate launch`` or ``torchrun``) does the distributed work; this module only
checks, before any process starts training, that the requested precision / sharding / batch settings
can work here, and resolves the kit's conveniences (``bf16: auto``, ``global_batch_size``).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Optional

import torch

from .errors import ConfigError
from .hardware import bf16_native

#: Strategies that freeze part of a model in place: FSDP units then mix frozen and trainable parameters.
_MIXED_GRAD_STRATEGIES = {"partial", "linear_probe", "bitfit"}


def world_size() -> int:
    """Processes in this run, as set by torchrun / accelerate launch (1 when launched plainly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "false").lower() in ("1", "true", "yes")


def sharded_engine(args: Any) -> Optional[str]:
    """'deepspeed' or 'fsdp' when this run's gradients live in an engine's sharded buffers (from the
    TrainingArguments, or from an ``accelerate launch`` config), else None."""
    if getattr(args, "deepspeed", None) or _env_flag("ACCELERATE_USE_DEEPSPEED"):
        return "deepspeed"
    if getattr(args, "fsdp", None) or _env_flag("ACCELERATE_USE_FSDP"):
        return "fsdp"
    return None


def resolve_training_kwargs(training: dict[str, Any], strategy_name: str,
                            global_batch_size: Optional[int] = None) -> dict[str, Any]:
    """Return TrainingArguments kwargs, raising :class:`ConfigError` for settings this machine cannot run."""
    kwargs = dict(training)
    cuda = torch.cuda.is_available()
    if not cuda:
        kwargs.setdefault("dataloader_pin_memory", False)  # pinned memory is for copies to a GPU
    if kwargs.get("fp16") and not cuda:
        raise ConfigError("training.fp16", True, "fp16 mixed precision needs a CUDA GPU; on CPU use "
                          "training.bf16=true (or auto), or training.fp16=false.")
    if kwargs.get("fp16") and kwargs.get("bf16") is True:
        raise ConfigError("training.fp16", True, "fp16 and bf16 are both on; keep one (training.bf16=false).")
    if kwargs.get("bf16") == "auto":
        kwargs["bf16"] = not kwargs.get("fp16") and bf16_native()
        if kwargs["bf16"] and not cuda:
            kwargs["use_cpu"] = True  # Trainer only enables CPU autocast when told it runs on the CPU
    elif kwargs.get("bf16") and not cuda:
        kwargs.setdefault("use_cpu", True)

    wants_deepspeed = kwargs.get("deepspeed") or _env_flag("ACCELERATE_USE_DEEPSPEED")
    if wants_deepspeed and importlib.util.find_spec("deepspeed") is None:
        raise ConfigError("training.deepspeed", kwargs.get("deepspeed") or "accelerate DEEPSPEED config",
                          "DeepSpeed is not installed; `pip install deepspeed` (CUDA GPUs only), or launch with "
                          "recipes/accelerate/multi_gpu.yaml / fsdp.yaml instead.")

    wants_fsdp = bool(kwargs.get("fsdp")) or _env_flag("ACCELERATE_USE_FSDP")
    fsdp_config = kwargs.get("fsdp_config") or {}
    fsdp_version = int(fsdp_config.get("version", os.environ.get("FSDP_VERSION", "1")))
    if wants_fsdp and strategy_name in _MIXED_GRAD_STRATEGIES and fsdp_version < 2 and not fsdp_config.get(
            "use_orig_params", _env_flag("FSDP_USE_ORIG_PARAMS")):
        raise ConfigError("strategy.name", strategy_name, "FSDP (v1) flattens frozen and trainable parameters into "
                          "one unit; set training.fsdp_config.use_orig_params=true, use FSDP v2 "
                          "(recipes/accelerate/fsdp.yaml), or use strategy lora / adapter.")

    if global_batch_size is not None:
        per_device = int(kwargs.get("per_device_train_batch_size", 8))
        per_step = per_device * world_size()
        if global_batch_size % per_step:
            raise ConfigError("global_batch_size", global_batch_size,
                              f"must be a multiple of per_device_train_batch_size x processes = {per_device} x "
                              f"{world_size()} = {per_step}; change one of them.")
        kwargs["gradient_accumulation_steps"] = global_batch_size // per_step
    return kwargs

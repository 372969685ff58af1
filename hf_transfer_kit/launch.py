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


def fsdp_flattens(fsdp: Any, fsdp_config: Optional[dict[str, Any]]) -> bool:
    """True for FSDP v1 without ``use_orig_params``: it flattens a unit's parameters into one tensor, so neither
    mixed ``requires_grad`` nor per-parameter optimizer groups survive (FSDP2 keeps every parameter its own).
    ``fsdp``: ``training.fsdp``; when set, transformers builds the plugin and defaults to v2, else an ``accelerate
    launch`` config does (``FSDP_VERSION``, v1 when absent)."""
    config = fsdp_config or {}
    version = int(config.get("version", 2 if fsdp else os.environ.get("FSDP_VERSION", "1")))
    return version < 2 and not config.get("use_orig_params", _env_flag("FSDP_USE_ORIG_PARAMS"))


def whole_state_dict(trainer: Any) -> Optional[dict[str, Any]]:
    """The model's whole weights on rank 0 when an engine shards the parameters themselves (DeepSpeed ZeRO-3,
    FSDP), else None (the model's own tensors are whole). Every rank must call it: the shards are gathered.

    ZeRO-3 leaves each parameter above ``stage3_param_persistence_threshold`` elements as an empty placeholder
    outside the forward pass, so ``save_pretrained`` on the bare model would write empty tensors (a frozen
    embedding matrix, say). Accelerate's ``get_state_dict`` gathers them layer by layer, as ``Trainer.save_model``
    does; it raises when the config does not allow gathering (``zero3_save_16bit_model: false``)."""
    engine = sharded_engine(trainer.args)
    if engine is None:
        return None
    wrapped = trainer.model_wrapped
    if engine == "deepspeed" and not wrapped.zero_optimization_partition_weights():
        return None  # ZeRO-1/2: optimizer state and gradients are sharded, the parameters are whole
    return trainer.accelerator.get_state_dict(wrapped)


#: Set by MPI launchers (mpirun / mpiexec of Open MPI, MPICH, Intel MPI, MVAPICH): Accelerate reads the world from them.
_MPI_WORLD = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")


def check_processes_started() -> None:
    """Refuse a launch that asked for several processes and started one.

    ``accelerate launch --cpu`` (and any config with ``use_cpu: true``) goes through Accelerate's simple launcher,
    which starts one process unless MPI runs it (``--mpirun_hostfile``); with ``--num_processes N > 1`` it still
    sets ``MASTER_ADDR``. That process would train alone on the whole data, silently not distributed.
    """
    several = bool(os.environ.get("MASTER_ADDR")) and _env_flag("ACCELERATE_USE_CPU")
    if several and "WORLD_SIZE" not in os.environ and not any(k in os.environ for k in _MPI_WORLD):
        raise ConfigError("accelerate launch", "--cpu --num_processes N",
                          "Accelerate's CPU launcher starts a single process unless MPI runs it, so this run would "
                          "train alone, not distributed. Launch the processes with torchrun: `accelerate launch "
                          "--config_file recipes/accelerate/multi_gpu.yaml --num_processes N ...` without --cpu "
                          "(or `torchrun --nproc_per_node N recipes/finetune.py ...`) plus training.use_cpu=true; "
                          "or give --mpirun_hostfile with MPI installed.")


def run_launch(args: Any) -> dict[str, Any]:
    """How this run was actually launched, for metrics.json and the card: processes, engine, precision."""
    engine = sharded_engine(args)
    if engine == "deepspeed":
        stage = os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE")
        config = getattr(getattr(args, "hf_deepspeed_config", None), "config", None) or {}
        stage = (config.get("zero_optimization") or {}).get("stage", stage)
        name = f"DeepSpeed ZeRO-{stage}" if stage is not None else "DeepSpeed"
    elif engine == "fsdp":
        version = (getattr(args, "fsdp_config", None) or {}).get("version") or os.environ.get("FSDP_VERSION", "1")
        name = f"FSDP{version if str(version) != '1' else ''}"
    else:
        name = "DDP" if args.world_size > 1 else "one process"
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    return {"processes": args.world_size, "engine": name, "precision": precision}


def describe_launch(launch: dict[str, Any]) -> str:
    processes = launch.get("processes", 1)
    return (f"{processes} process{'es' if processes != 1 else ''}, {launch.get('engine')}, "
            f"{launch.get('precision')}")


def resolve_training_kwargs(training: dict[str, Any], strategy_name: str,
                            global_batch_size: Optional[int] = None) -> dict[str, Any]:
    """Return TrainingArguments kwargs, raising :class:`ConfigError` for settings this machine cannot run."""
    check_processes_started()
    kwargs = dict(training)
    cuda = torch.cuda.is_available()
    if not cuda:
        kwargs.setdefault("dataloader_pin_memory", False)  # pinned memory is for copies to a GPU
    if kwargs.get("fp16") and not cuda:
        raise ConfigError("training.fp16", True, "fp16 mixed precision needs a CUDA GPU; on CPU use "
                          "training.bf16=true (or auto), or training.fp16=false.")
    if kwargs.get("fp16") and kwargs.get("bf16") is True:
        raise ConfigError("training.fp16", True, "fp16 and bf16 are both on; keep one (training.bf16=false).")
    wants_deepspeed = kwargs.get("deepspeed") or _env_flag("ACCELERATE_USE_DEEPSPEED")
    launcher_precision = os.environ.get("ACCELERATE_MIXED_PRECISION")
    if kwargs.get("bf16") == "auto" and wants_deepspeed and launcher_precision in ("bf16", "fp16", "no"):
        # DeepSpeed refuses a TrainingArguments precision that differs from its config's (set from the Accelerate
        # config's mixed_precision): `auto` follows the launcher there
        kwargs["bf16"] = launcher_precision == "bf16"
    if kwargs.get("bf16") == "auto":
        kwargs["bf16"] = not kwargs.get("fp16") and bf16_native()
        if kwargs["bf16"] and not cuda:
            kwargs["use_cpu"] = True  # Trainer only enables CPU autocast when told it runs on the CPU
    elif kwargs.get("bf16") and not cuda:
        kwargs.setdefault("use_cpu", True)

    if wants_deepspeed and importlib.util.find_spec("deepspeed") is None:
        raise ConfigError("training.deepspeed", kwargs.get("deepspeed") or "accelerate DEEPSPEED config",
                          "DeepSpeed is not installed; `pip install --no-build-isolation deepspeed` (GPUs, or "
                          "its CPU accelerator), or launch with recipes/accelerate/multi_gpu.yaml / fsdp.yaml instead.")

    wants_fsdp = bool(kwargs.get("fsdp")) or _env_flag("ACCELERATE_USE_FSDP")
    if (wants_fsdp and strategy_name in _MIXED_GRAD_STRATEGIES
            and fsdp_flattens(kwargs.get("fsdp"), kwargs.get("fsdp_config"))):
        raise ConfigError("strategy.name", strategy_name, "FSDP (v1) flattens frozen and trainable parameters into "
                          "one unit; set training.fsdp_config.use_orig_params=true, use FSDP v2 "
                          "(recipes/accelerate/fsdp.yaml), or use strategy lora / adapter.")

    if wants_fsdp and (kwargs.get("use_cpu") or not torch.accelerator.is_available()):
        # accelerate.state.AcceleratorState turns FSDP on only for GPU-like distributed types (MULTI_GPU, MULTI_XPU,
        # MULTI_NPU...); CPU processes run as MULTI_CPU, where the FSDP plugin is dropped and its
        # cpu_ram_efficient_loading leaves the other ranks' weights on the meta device
        raise ConfigError(*(("training.fsdp", kwargs["fsdp"]) if kwargs.get("fsdp") else
                            ("accelerate config distributed_type", "FSDP")),
                          "Accelerate runs FSDP only on GPUs (and XPU / NPU / HPU), not on CPU processes. On CPUs "
                          "use DDP (recipes/accelerate/multi_gpu.yaml without --cpu, plus training.use_cpu=true) "
                          "or DeepSpeed ZeRO (recipes/accelerate/deepspeed_zero3.yaml), which has a CPU accelerator.")

    if global_batch_size is not None:
        per_device = int(kwargs.get("per_device_train_batch_size", 8))
        per_step = per_device * world_size()
        if global_batch_size % per_step:
            raise ConfigError("global_batch_size", global_batch_size,
                              f"must be a multiple of per_device_train_batch_size x processes = {per_device} x "
                              f"{world_size()} = {per_step}; change one of them.")
        kwargs["gradient_accumulation_steps"] = global_batch_size // per_step
    return kwargs

"""Precision / sharding / batch settings are checked before any process trains; Accelerate configs parse;
bf16 and gradient checkpointing really train on CPU with frozen parts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from conftest import tiny_config, toy_dataset
from hf_transfer_kit import TextClassificationRecipe
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.hardware import bf16_native
from hf_transfer_kit.launch import resolve_training_kwargs

ACCELERATE_CONFIGS = sorted((Path(__file__).parent.parent / "recipes" / "accelerate").glob("*.yaml"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only path")
def test_fp16_on_cpu_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_training_kwargs({"fp16": True, "bf16": "auto"}, "full")
    assert info.value.param == "training.fp16" and "bf16" in info.value.fix


def test_bf16_auto_follows_the_hardware() -> None:
    kwargs = resolve_training_kwargs({"bf16": "auto"}, "full")
    assert kwargs["bf16"] == bf16_native()


def test_deepspeed_requested_but_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "deepspeed" else real(name, *a))
    with pytest.raises(ConfigError, match="pip install --no-build-isolation deepspeed"):
        resolve_training_kwargs({"deepspeed": "ds.json"}, "full")


def test_global_batch_sets_accumulation_and_must_divide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert resolve_training_kwargs({"per_device_train_batch_size": 4}, "full", 32)["gradient_accumulation_steps"] == 4
    with pytest.raises(ConfigError) as info:
        resolve_training_kwargs({"per_device_train_batch_size": 4}, "full", 20)
    assert info.value.param == "global_batch_size" and "4 x 2 = 8" in info.value.fix


def test_fsdp_v1_with_partial_freezing_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_training_kwargs({"fsdp": "full_shard", "fsdp_config": {"version": 1}}, "bitfit")
    assert info.value.param == "strategy.name" and "use_orig_params" in info.value.fix
    # use_orig_params, or FSDP2 (what training.fsdp alone means: transformers' default), keep parameters apart
    for fixed in ({"fsdp": "full_shard", "fsdp_config": {"version": 1, "use_orig_params": True}},
                  {"fsdp": "full_shard"}):
        if torch.accelerator.is_available():
            assert resolve_training_kwargs(fixed, "bitfit")["fsdp"] == "full_shard"
        else:  # what is left is the machine: Accelerate runs FSDP on GPUs only
            with pytest.raises(ConfigError, match="FSDP only on GPUs.*multi_gpu.yaml"):
                resolve_training_kwargs(fixed, "bitfit")


def test_fsdp_on_cpu_processes_is_refused_with_the_alternatives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # what `accelerate launch --config_file fsdp.yaml` sets
    with pytest.raises(ConfigError) as info:
        resolve_training_kwargs({"use_cpu": True}, "lora")
    assert info.value.param == "accelerate config distributed_type" and "deepspeed_zero3.yaml" in info.value.fix


def test_a_launch_that_asked_for_processes_and_started_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # what Accelerate's simple launcher leaves for `accelerate launch --cpu --num_processes 2`: no WORLD_SIZE
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ConfigError, match="single process.*without --cpu"):
        resolve_training_kwargs({}, "full")
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun (or MPI) started the processes: fine
    resolve_training_kwargs({}, "full")


def test_bf16_auto_follows_the_launcher_under_deepspeed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("deepspeed")
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    for precision, expected in (("bf16", True), ("no", False)):
        monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", precision)  # the Accelerate config's mixed_precision
        assert resolve_training_kwargs({"bf16": "auto"}, "full")["bf16"] is expected
    assert resolve_training_kwargs({"bf16": False}, "full")["bf16"] is False  # an explicit choice stays


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=[p.stem for p in ACCELERATE_CONFIGS])
def test_accelerate_configs_parse_and_name_their_command(path: Path) -> None:
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(str(path))  # raises on unknown keys
    assert config.num_processes >= 1 and config.mixed_precision in ("no", "bf16", "fp16")
    first = path.read_text().splitlines()[0]
    assert "hf_transfer_kit" in first or "finetune.py" in first
    assert f"recipes/accelerate/{path.name}" in path.read_text()


def _trainable_snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("strategy", [
    {"name": "lora", "r": 4},
    {"name": "partial", "freeze_embeddings": True, "freeze_bottom_layers": 1},
    {"name": "adapter", "reduction_factor": 8},
], ids=["lora", "partial", "adapter"])
def test_gradient_checkpointing_and_bf16_train_frozen_models(tmp_path: Path, tiny_model_dir: str, strategy: dict) -> None:
    """Every trainable tensor must move: with frozen embeddings, reentrant checkpointing would silently drop grads."""
    cfg = tiny_config(tmp_path, tiny_model_dir, strategy, gradient_checkpointing=True,
                      gradient_checkpointing_kwargs={"use_reentrant": True}, bf16=True, use_cpu=True,
                      gradient_accumulation_steps=2)
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(32)).setup()
    before = _trainable_snapshot(recipe.model)
    recipe.train()
    after = _trainable_snapshot(recipe.model)
    assert recipe.args.bf16 and recipe.trainer.state.global_step == 3
    unchanged = [n for n in before if torch.equal(before[n], after[n])]
    assert not unchanged, f"parameters that never updated: {unchanged[:5]}"

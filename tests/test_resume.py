"""Faults injected into real training processes: SIGKILL after a checkpoint then --resume must reproduce an
uninterrupted run exactly; Ctrl-C saves a checkpoint and exits 130; a kill mid-save never leaves a model
at output_dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from conftest import toy_dataset

ROOT = Path(__file__).parent.parent
WORKER = Path(__file__).parent / "cli_worker.py"
STRATEGIES = {
    "full": {"name": "full"},
    "lora": {"name": "lora", "r": 4},
    "adapter": {"name": "adapter", "reduction_factor": 8},
    "partial": {"name": "partial", "freeze_embeddings": True, "freeze_bottom_layers": 1},
}

pytestmark = pytest.mark.slow


def write_config(tmp: Path, model_dir: str, strategy: dict) -> Path:
    toy_dataset(96).to_json(str(tmp / "train.jsonl"))
    config = {"model": {"name_or_path": model_dir}, "baselines": False,
              "data": {"dataset": None, "train_file": str(tmp / "train.jsonl"), "max_length": 32, "test_size": 0.0},
              "strategy": strategy,
              "training": {"max_steps": 12, "per_device_train_batch_size": 8, "learning_rate": 1e-3,
                           "save_strategy": "steps", "save_steps": 3, "save_total_limit": 2, "logging_steps": 1,
                           "eval_strategy": "no", "bf16": False, "disable_tqdm": True, "dataloader_num_workers": 0}}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(config: Path, out: Path, *extra: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), "train", str(config), "--output-dir", str(out), *extra],
                            cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(out: Path, proc: subprocess.Popen, timeout: float = 120) -> Path:
    staging = out.parent / f".{out.name}.partial"
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            done = sorted(staging.glob("checkpoint-*/trainer_state.json"))
        except FileNotFoundError:  # the staging folder vanished between glob's check and its scan (renamed)
            done = []
        if done:
            return done[0].parent
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")


def weights(out: Path) -> dict[str, torch.Tensor]:
    files = list(out.glob("*.safetensors"))
    assert len(files) == 1, files
    return load_file(str(files[0]))


def reference_then_killed_and_resumed(tmp_path: Path, config: Path) -> tuple[Path, Path]:
    """An uninterrupted run, and the same run SIGKILLed after its first checkpoint then resumed (which must not
    train a step before that checkpoint again): (reference output, resumed output)."""
    reference = start(config, tmp_path / "reference")
    assert reference.wait(timeout=300) == 0, reference.communicate()[1][-3000:]

    out = tmp_path / "run"
    victim = start(config, out, STEP_SLEEP="0.3")
    checkpoint = wait_for_checkpoint(out, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert not out.exists(), "the killed run must not leave an output directory"
    assert int(checkpoint.name.split("-")[1]) < 12

    resumed = start(config, out, "--resume", RESUMED_AT=checkpoint.name.split("-")[1])
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr[-3000:]
    return tmp_path / "reference", out


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path: Path, tiny_model_dir: str, name: str) -> None:
    config = write_config(tmp_path, tiny_model_dir, STRATEGIES[name])
    reference, out = reference_then_killed_and_resumed(tmp_path, config)
    expected, got = weights(reference), weights(out)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=1e-6, msg=key)
    assert not list(out.glob("checkpoint-*")) and not (tmp_path / ".run.partial").exists()


def test_plateau_lowering_goes_on_after_resume(tmp_path: Path, tiny_model_dir: str) -> None:
    """training.lr_plateau_factor lowers the rate through the Trainer its early-stopping callback is bound to;
    resuming rebuilds that callback from the checkpoint, and the run must keep lowering the rate after it."""
    config = write_config(tmp_path, tiny_model_dir, STRATEGIES["full"])
    raw = yaml.safe_load(config.read_text())
    raw["data"]["validation_size"] = 0.25
    raw["training"].update(eval_strategy="steps", eval_steps=1, learning_rate=1e-6, early_stopping_patience=100,
                           lr_plateau_factor=0.5, load_best_model_at_end=False)
    config.write_text(yaml.safe_dump(raw))
    reference, out = reference_then_killed_and_resumed(tmp_path, config)

    def rates(run: Path) -> dict[int, float]:
        return {h["step"]: h["learning_rate"] for h in json.loads((run / "log_history.json").read_text())
                if "learning_rate" in h}

    got = rates(out)
    assert got[12] < 0.5 * 1e-6 / 12, got  # the linear schedule alone gives 1e-6 / 12 at the last step
    assert got == pytest.approx(rates(reference), rel=1e-6)  # lowered after the resume point too
    expected, got = weights(reference), weights(out)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=1e-6, msg=key)


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path: Path, tiny_model_dir: str) -> None:
    config = write_config(tmp_path, tiny_model_dir, STRATEGIES["lora"])
    out = tmp_path / "run"
    proc = start(config, out, STEP_SLEEP="0.3")
    wait_for_checkpoint(out, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert "--resume" in stderr and not out.exists()
    state = max((out.parent / ".run.partial").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert (state / "optimizer.pt").exists() or (state / "optimizer.bin").exists()
    assert start(config, out, "--resume").wait(timeout=300) == 0
    assert (out / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("point", ["save_config", "commit"])
def test_kill_during_save_never_leaves_a_loadable_output(tmp_path: Path, tiny_model_dir: str, point: str) -> None:
    config = write_config(tmp_path, tiny_model_dir, STRATEGIES["full"])
    out = tmp_path / "run"
    proc = start(config, out, KILL_AT=point)
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert (tmp_path / ".run.partial" / "model.safetensors").is_file()  # the work was staged, never published
    again = start(config, out, "--overwrite")
    assert again.wait(timeout=300) == 0 and (out / "metrics.json").is_file()

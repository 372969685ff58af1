"""The benchmark's --quick mode end to end: every output written, complete and valid (timings are never asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks import report  # noqa: E402  (light: no torch)

# Runs the real EfficientNet-Lite0 (2 steps at 32 px) beside a tiny BERT, ~10 processes: tens of seconds.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "benchmarks/run.py", "--quick", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    return out, done


def test_quick_benchmark_succeeds_and_prints_the_targets(quick_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, done = quick_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Targets (ratios measured in this run)" in done.stdout
    assert "per-step overhead, full" in done.stdout and "`hf-transfer-kit --help` wall time" in done.stdout


def test_quick_benchmark_json_is_complete(quick_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, _ = quick_run
    doc = json.loads((out / "benchmark.json").read_text())
    machine = doc["machine"]
    assert machine["cpu"] and machine["usable_cpus"] >= 1 and set(machine["cpu_flags"]) >= {"avx512f", "amx_bf16"}
    assert {"torch", "transformers", "peft"} <= set(machine["versions"])
    assert doc["matmul_flops"]["fp32"] > 0 and doc["matmul_flops"]["bf16"] > 0
    assert doc["skipped_jobs"] == 0 and not [r for r in doc["runs"] if "error" in r]
    configs = {(c["job"]["modality"], c["job"]["kind"], c["job"].get("strategy"), c["job"]["mode"]): c
               for c in doc["configurations"] if not c["job"].get("variant")}
    variants = {(c["job"]["strategy"], c["job"]["variant"]): c for c in doc["configurations"] if c["job"].get("variant")}
    expected = {("text", "loop", None, "tta"), ("text", "trainer_default", None, "tta"),
                ("text", "trainer_default_lora", "lora", "tta"), ("text", "recipe", "full", "tta"),
                ("text", "recipe", "lora", "tta"), ("text", "recipe", "full", "steps"),
                ("text", "trainer_same", "full", "steps"), ("vision", "recipe", "full", "tta"),
                ("vision", "recipe", "full", "steps"), ("vision", "trainer_same", "full", "steps")}
    assert expected <= set(configs)
    for config in configs.values():
        assert config["train_samples_per_s"] > 0 and config["peak_rss_mb"] > 0 and config["flops_per_sample"] > 0
        assert 0 < config["trainable_percent"] <= 100 and config["steps"] >= 1
        if config["job"]["mode"] == "tta":  # evaluated on the way, then scored on the test split
            assert config["curve"] and all(0 <= p["accuracy"] <= 1 for p in config["curve"])
            assert config["eval_samples_per_s"] > 0 and 0 <= config["test_accuracy"] <= 1
    # the kit's recipe and the hand-written Trainer with its settings train the same parameters
    assert configs[("text", "recipe", "full", "steps")]["trainable"] == \
        configs[("text", "trainer_same", "full", "steps")]["trainable"]
    assert configs[("text", "recipe", "lora", "tta")]["trainable"] < configs[("text", "recipe", "full", "tta")]["trainable"]
    # the FLOP count follows what each strategy really does (benchmarks/flops.py): a linear probe runs the backbone
    # forward only, LoRA trains no base weight; so no row can claim more than the measured peak
    work = {s: configs[("text", "recipe", s, "tta")]["flops"] for s in ("full", "lora", "linear_probe")}
    assert work["full"]["total"] == pytest.approx(3 * work["full"]["forward"])
    assert work["linear_probe"]["total"] < work["lora"]["total"] < work["full"]["total"]
    assert work["linear_probe"]["total"] < 0.4 * work["full"]["total"]
    for config in doc["configurations"]:
        use = report.mfu(config, doc["matmul_flops"])
        assert use is not None and 0 < use <= 1.0, config["name"]
    names = {t["target"] for t in doc["targets"]}
    assert any("per-step overhead, full" in n for n in names) and any("time to target" in n for n in names)
    # a speed lever measured switched off beside the defaults: bf16 autocast, here trained in fp32 instead
    assert variants[("full", "fp32")]["bf16"] is False and variants[("full", "fp32")]["job"]["mode"] == "steps"
    assert "text full, what bf16 autocast (training.bf16: auto) buys: step time off / on" in names
    # a lever measured against another variant: the CPU dropout switched off in fp32, compared with the fp32 arm
    lever = next(t for t in doc["targets"] if t["target"].startswith("text full (fp32), what CPU dropout"))
    assert lever["ratio"] > 0 and "first step" in lever["detail"]
    assert variants[("full", "fp32, torch dropout")]["bf16"] is False


def test_quick_benchmark_markdown_and_plots(quick_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, _ = quick_run
    text = (out / "benchmark.md").read_text()
    assert "Machine:" in text and "GFLOP/s" in text and "| configuration |" in text
    assert "kit recipe: full" in text and "Trainer, default args (full)" in text and "plain PyTorch loop" in text
    for name in ("throughput_memory.png", "accuracy_vs_time.png"):
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000

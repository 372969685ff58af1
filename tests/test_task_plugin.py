"""A task from outside the package: installed from its own folder (tests/plugins/pair_task), found through the
``hf_transfer_kit.tasks`` entry point, trained, evaluated and used for prediction with the kit's CLI.

The folder holds what adding a task takes -- ``pyproject.toml`` (the entry point) and a package with ``recipe.py``,
``config.py``, ``card.md`` and ``__init__.py`` -- and nothing in ``hf_transfer_kit`` names it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parent.parent
PLUGIN = Path(__file__).parent / "plugins" / "pair_task"
WORDS = ["football", "pasta", "computer", "violin"]
FILLER = "the a of and to in is it that was".split()


def pairs(n: int, seed: int) -> list[dict]:
    """Two short sentences; they match when they name the same one of four keywords (balanced)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        first = rng.choice(WORDS)
        second = first if i % 2 == 0 else rng.choice([w for w in WORDS if w != first])
        rows.append({"first": " ".join(rng.sample(FILLER, 3) + [first]),
                     "second": " ".join([second] + rng.sample(FILLER, 3)), "match": "yes" if i % 2 == 0 else "no"})
    return rows


def run(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:{proc.stdout[-2000:]}\nstderr:{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The plug-in installed (a real wheel build and install) into a folder of its own, put on the path."""
    site, source = tmp_path_factory.mktemp("plugin-site"), tmp_path_factory.mktemp("plugin-src") / "pair_task"
    shutil.copytree(PLUGIN, source)  # a build writes into the source folder: keep the repository clean
    run("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site),
        str(source), env=dict(os.environ))
    assert (site / "hf_transfer_kit_pair_task" / "card.md").is_file()
    return {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def test_a_task_package_installs_trains_evaluates_and_predicts(plugin_env: dict, tmp_path: Path) -> None:
    for name, n, seed in (("train", 320, 0), ("test", 80, 1)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in pairs(n, seed)))
    config = {"task": "pair-match", "output_dir": str(tmp_path / "run"), "model": {"name_or_path": "builtin:all-MiniLM-L6-v2"},
              "data": {"dataset": None, "train_file": str(tmp_path / "train.jsonl"),
                       "test_file": str(tmp_path / "test.jsonl"), "max_length": 16},
              "strategy": {"name": "full"},
              "training": {"num_train_epochs": 2, "learning_rate": 1e-4, "per_device_train_batch_size": 16,
                           "eval_strategy": "no", "save_strategy": "no", "bf16": False, "disable_tqdm": True}}
    (tmp_path / "pair.yaml").write_text(yaml.safe_dump(config))

    trained = run("-m", "hf_transfer_kit", "train", str(tmp_path / "pair.yaml"), env=plugin_env)
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    out = Path(summary["output_dir"])
    metrics = json.loads((out / "metrics.json").read_text())
    accuracy, majority = metrics["test"]["accuracy"], metrics["baselines"]["majority_accuracy"]
    assert summary["test"] == {"accuracy": accuracy}  # the task's own card metrics
    assert accuracy >= majority + 0.2, metrics  # it learned the pairing, not the label prior
    card = (out / "README.md").read_text()
    assert "pipeline_tag: text-classification" in card and "task `pair-match`" in card  # the plug-in's template

    scored = json.loads(run("-m", "hf_transfer_kit", "evaluate", str(out), env=plugin_env).stdout)
    assert scored["accuracy"] == pytest.approx(accuracy, abs=1e-6) and scored["num_examples"] == 80
    predicted = run("-m", "hf_transfer_kit", "predict", str(out), "the pasta ||| pasta of it",
                    "a violin ||| football in the", env=plugin_env)
    rows = [json.loads(line) for line in predicted.stdout.strip().splitlines()]
    assert [row["label"] for row in rows] == ["match", "no_match"]


def test_without_the_package_the_task_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "pair.yaml").write_text(yaml.safe_dump({"task": "pair-match"}))
    proc = run("-m", "hf_transfer_kit", "train", str(tmp_path / "pair.yaml"), check=False,
               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2
    assert "task='pair-match': unknown task" in proc.stderr and "hf_transfer_kit.tasks' entry point" in proc.stderr

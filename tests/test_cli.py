"""The command line through real subprocesses: train, evaluate, predict, help, bad input, script forms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import toy_dataset

ROOT = Path(__file__).parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def cli(*args: str, entry: tuple[str, ...] = ("-m", "hf_transfer_kit"), stdin: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *entry, *args], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          input=stdin, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:{proc.stdout[-2000:]}\nstderr:{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str) -> Path:
    """Train the tiny model with the shipped LoRA YAML, pointed at local files by overrides."""
    tmp = tmp_path_factory.mktemp("cli")
    toy_dataset(48).to_json(str(tmp / "train.jsonl"))
    toy_dataset(12, seed=1).to_json(str(tmp / "test.jsonl"))
    out = tmp / "run"
    proc = cli("train", "recipes/configs/nlp/minilm_lora.yaml", f"model.name_or_path={tiny_model_dir}",
               "data.dataset=null", f"data.train_file={tmp / 'train.jsonl'}", f"data.test_file={tmp / 'test.jsonl'}",
               "training.max_steps=4", "training.bf16=false", "training.eval_strategy=no", "strategy.r=4",
               "--output-dir", str(out))
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["output_dir"] == str(out) and 0 < summary["trainable_percent"] < 100
    return out


def test_train_writes_a_reproducible_run(trained: Path) -> None:
    assert (trained / "adapter_config.json").is_file() and (trained / "README.md").is_file()
    text = (trained / "recipe_config.yaml").read_text()
    assert "name: lora" in text and "r: 4" in text and "max_steps: 4" in text


def test_evaluate_and_predict_a_saved_run(trained: Path, tmp_path: Path) -> None:
    metrics = json.loads(cli("evaluate", str(trained)).stdout)
    saved = json.loads((trained / "metrics.json").read_text())["test"]
    assert metrics["num_examples"] == 12
    assert metrics["accuracy"] == pytest.approx(saved["accuracy"])
    lines = cli("predict", str(trained), "football match today", "new computer chip").stdout.strip().splitlines()
    results = [json.loads(line) for line in lines]
    assert len(results) == 2 and all(r["label"] in {"food", "sports", "tech"} for r in results)
    piped = cli("predict", str(trained), stdin="pasta dinner\n").stdout
    assert json.loads(piped)["text"] == "pasta dinner"


def test_a_run_saved_before_the_task_folders_still_loads(trained: Path, tmp_path: Path) -> None:
    """A run whose recipe_config.yaml has every task's data fields in one section (the previous release's format,
    tests/fixtures/saved_before_tasks) predicts, re-scores and regenerates its card as before."""
    import shutil

    import yaml

    old = shutil.copytree(trained, tmp_path / "old")
    config = yaml.safe_load((old / "recipe_config.yaml").read_text())
    legacy = yaml.safe_load((ROOT / "tests/fixtures/saved_before_tasks/recipe_config.yaml").read_text())["data"]
    config["data"] = {**legacy, **config["data"]}
    header = (trained / "recipe_config.yaml").read_text().splitlines()[0]
    (old / "recipe_config.yaml").write_text(header + "\n" + yaml.safe_dump(config, sort_keys=False))
    assert "image_column" in (old / "recipe_config.yaml").read_text()
    before = json.loads(cli("evaluate", str(trained)).stdout)
    assert json.loads(cli("evaluate", str(old)).stdout) == before
    assert json.loads(cli("predict", str(old), "football match today").stdout)["label"] in {"food", "sports", "tech"}
    cli("card", str(old))
    assert "pipeline_tag: text-classification" in (old / "README.md").read_text()


def test_script_and_console_forms_agree_on_help() -> None:
    module_help = cli("train", "--help").stdout
    script_help = cli("--help", entry=("recipes/finetune.py",)).stdout
    for text in (module_help, script_help):
        for field in ("strategy.freeze_bottom_layers", "strategy.lora_alpha", "data.text_pair_column",
                      "training.learning_rate", "model.name_or_path", "hub.repo_id"):
            assert field in text, field


def test_bad_config_key_exits_2_with_suggestion(tmp_path: Path) -> None:
    proc = cli("train", "recipes/configs/nlp/minilm_full.yaml", "training.lerning_rate=1", "--output-dir",
               str(tmp_path / "x"), check=False)
    assert proc.returncode == 2
    assert "training.lerning_rate" in proc.stderr and "learning_rate" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_unknown_strategy_exits_2(tmp_path: Path) -> None:
    proc = cli("train", "recipes/configs/nlp/minilm_full.yaml", "strategy.name=adaptr", check=False)
    assert proc.returncode == 2 and "strategy.name='adaptr'" in proc.stderr and "Available" in proc.stderr

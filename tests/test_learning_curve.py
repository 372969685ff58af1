"""`hf-transfer-kit learning-curve`: seeded stratified k-shot draws, one run per (k, strategy, seed) on fixed
validation/test splits, JSON + PNG + table, resumable; bad shots/seeds/strategies fail before any training."""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path

import pytest
import yaml
from datasets import ClassLabel, Dataset

from conftest import FILLER, KEYWORDS
from hf_transfer_kit import learning_curve as lc
from hf_transfer_kit.cli import main
from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.errors import ConfigError

ROOT = Path(__file__).parent.parent


def keyword_dataset(n: int, seed: int = 0) -> Dataset:
    """Each text repeats its topic's keyword three times among two filler words: the tiny BERT learns it in ~15
    steps, so a curve can show learning within the test budget."""
    rng = random.Random(seed)
    labels = list(KEYWORDS)
    rows: dict[str, list] = {"text": [], "label": []}
    for i in range(n):
        label = labels[i % len(labels)]
        words = [KEYWORDS[label]] * 3 + rng.choices(FILLER, k=2)
        rng.shuffle(words)
        rows["text"].append(" ".join(words))
        rows["label"].append(label)
    return Dataset.from_dict(rows)


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["learning-curve", *map(str, args)])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def data_args(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str) -> list[str]:
    tmp = tmp_path_factory.mktemp("lc-data")
    keyword_dataset(96).to_json(str(tmp / "train.jsonl"))
    return [str(ROOT / "recipes/configs/nlp/minilm_full.yaml"), f"model.name_or_path={tiny_model_dir}",
            "data.dataset=null",
            f"data.train_file={tmp / 'train.jsonl'}", "data.max_length=16", "training.learning_rate=2e-2",
            "training.per_device_train_batch_size=8", "training.eval_strategy=no", "training.bf16=false"]


def test_shots_and_seeds_are_parsed_and_checked() -> None:
    assert lc.parse_shots(["all", "32", "8", "8"]) == [8, 32, "all"]
    for bad in ([], ["0"], ["-4"], ["few"]):
        with pytest.raises(ConfigError) as err:
            lc.parse_shots(bad)
        assert err.value.param == "--shots"
    with pytest.raises(ConfigError):
        lc.parse_seeds([])
    with pytest.raises(ConfigError) as err:
        lc.check_shots([4, 40, "all"], {"sports": 50, "tech": 31})
    assert err.value.value == 40 and "'tech' has only 31" in err.value.fix


def test_draws_are_stratified_seeded_and_nested() -> None:
    train = keyword_dataset(90).cast_column("label", ClassLabel(names=sorted(KEYWORDS)))
    small, large = lc.sample_per_class(train, 4, seed=0), lc.sample_per_class(train, 12, seed=0)
    assert sorted(small["label"]) == [0] * 4 + [1] * 4 + [2] * 4
    assert set(small["text"]) <= set(large["text"])  # nested: more labels add to the same draw
    assert small["text"] == lc.sample_per_class(train, 4, seed=0)["text"]
    assert small["text"] != lc.sample_per_class(train, 4, seed=1)["text"]
    assert lc.sample_per_class(train, "all", seed=3) is train


def test_strategy_yaml_brings_its_own_learning_rate_but_not_defaults(tmp_path: Path) -> None:
    base = config_from_dict({"training": {"learning_rate": 1e-4, "eval_strategy": "no"}})
    specs = lc.strategy_specs(base, ["full", "linear_probe", str(ROOT / "recipes/configs/nlp/minilm_lora.yaml")])
    assert [s.label for s in specs] == ["full", "linear_probe", "lora"]
    assert specs[1].config.training["learning_rate"] == 1e-4
    lora = specs[2].config
    shipped = yaml.safe_load((ROOT / "recipes/configs/nlp/minilm_lora.yaml").read_text())["training"]
    assert lora.strategy.options["r"] == 8 and lora.training["learning_rate"] == pytest.approx(shipped["learning_rate"])
    assert lora.training["learning_rate"] != 1e-4  # the file's rate, not the base config's
    assert lora.training["eval_strategy"] == "no"  # the file's defaults do not undo the base config's settings
    with pytest.raises(ConfigError) as err:
        lc.strategy_specs(base, ["loraa"])
    assert err.value.param == "strategy.name"


def test_curve_trains_writes_json_png_and_resumes(data_args: list[str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "curve"
    args = [*data_args, "--shots", "4", "all", "--strategies", "linear_probe", "full", "--seeds", "0", "1",
            "--min-steps", "15", "--out", out]
    code, stdout, stderr = _cli(*args)
    assert code == 0, stderr[-2000:]
    assert "[learning-curve 8/8]" in stderr and "examples/class" in stdout
    report = json.loads((out / "learning_curve.json").read_text())
    assert (out / "learning_curve.png").stat().st_size > 10_000
    assert len(report["runs"]) == 8 and report["shots"] == [4, "all"] and report["test_examples"] == 10
    assert {r["train_examples"] for r in report["runs"] if r["shots"] == 4} == {12}
    assert all(r["optimizer_steps"] >= 15 for r in report["runs"])  # min-steps gave tiny subsets more epochs
    full = report["summary"]["full"]["all"]
    assert full["n"] == 2 and full["mean"] >= report["majority_class_accuracy"] + 0.3, report["summary"]

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("finished runs must be reused, not retrained")

    monkeypatch.setattr(lc, "train_point", no_training)
    code, _, stderr = _cli(*args)
    assert code == 0 and stderr.count("done earlier") == 8
    assert json.loads((out / "learning_curve.json").read_text())["summary"] == report["summary"]


@pytest.mark.parametrize("flags, param", [
    (["--shots"], "--shots"),
    (["--shots", "40"], "--shots"),  # more than the smallest class holds (about 25 training examples each)
    (["--seeds"], "--seeds"),
    (["--strategies", "full", "lorra"], "strategy.name"),
    (["--min-steps", "-1"], "--min-steps"),
])
def test_bad_inputs_fail_before_training(data_args: list[str], tmp_path: Path, flags: list[str], param: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lc, "train_point", lambda *a, **k: pytest.fail("trained despite a bad input"))
    code, _, stderr = _cli(*data_args, *flags, "--out", tmp_path / "c")
    assert code == 2 and f"error: {param}=" in stderr
    assert not (tmp_path / "c").exists()

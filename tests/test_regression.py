"""Regression heads (``model.problem_type: regression``): the scores, train -> save -> reload -> predict / evaluate /
pipeline on a tiny BERT with targets on a raw scale (standardised for training, the saved head rescaled), every
kind of strategy, the bad inputs, and (slow) the real MiniLM on the VADER valence lexicon."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from huggingface_hub import ModelCard

from conftest import STRATEGY_CASES, tiny_config
from hf_transfer_kit.cli import main as cli_main
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.inference import load_for_inference, load_pipeline
from hf_transfer_kit.metrics.regression import regression_scores
from hf_transfer_kit.tasks import TextClassificationRecipe
from test_multi_label import PROBE, toy_rows

ROOT = Path(__file__).parent.parent


def toy_scores(n: int = 120, seed: int = 0) -> dict[str, list]:
    """A price-like target far from 0..1: 100 + 50 per topic keyword + 20 for 'tech' (so learning must read words)."""
    rows = toy_rows(n, seed)
    return {"text": rows["text"], "score": [100.0 + 50 * len(labels) + 20 * ("tech" in labels)
                                            for labels in rows["labels"]]}


def regression_config(tmp_path: Path, model_dir: str, strategy: dict | None = None, **training):
    cfg = tiny_config(tmp_path, model_dir, strategy, **training)
    cfg.model.problem_type, cfg.data.label_column = "regression", "score"
    return cfg


def test_scores_on_hand_made_cases() -> None:
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    assert regression_scores(truth, truth) == pytest.approx({"mse": 0, "rmse": 0, "mae": 0, "pearson": 1,
                                                             "spearman": 1})
    off = regression_scores(truth + np.array([1, -1, 1, -1]), truth)
    assert off["mse"] == 1 and off["mae"] == 1 and off["rmse"] == 1
    monotone = regression_scores(truth ** 3, truth)  # same ranks, not linear
    assert monotone["spearman"] == pytest.approx(1) and monotone["pearson"] < 0.99
    assert regression_scores(np.full(4, 2.5), truth)["pearson"] == 0.0  # constant prediction: no agreement


def test_regression_learns_from_csv_and_the_saved_model_predicts_in_target_units(
        tmp_path: Path, tiny_model_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    for name, n, seed in (("train", 120, 0), ("test", 30, 1)):
        rows = toy_scores(n, seed)
        with (tmp_path / f"{name}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "score"])
            writer.writerows(zip(rows["text"], rows["score"]))
    cfg = regression_config(tmp_path, tiny_model_dir, max_steps=150, learning_rate=3e-3)
    cfg.data.dataset, cfg.data.train_file, cfg.data.test_file = None, str(tmp_path / "train.csv"), \
        str(tmp_path / "test.csv")
    recipe = TextClassificationRecipe(cfg)
    result = recipe.run()
    test, base = result.metrics["test"], result.metrics["baselines"]
    assert test["mse"] < 0.3 * base["mean_prediction_mse"] and test["mse"] < 0.3 * base["untrained_head_mse"]
    assert test["pearson"] > 0.85 and test["rmse"] == pytest.approx(math.sqrt(test["mse"]))
    assert 150 < test["train_target_mean"] < 250 and test["train_target_std"] > 20  # trained on standardised targets

    in_memory = recipe.predict(PROBE)
    assert all(60 < p["value"] < 320 for p in in_memory)  # target units, not standardised ones
    out = result.output_dir
    model, tokenizer, config = load_for_inference(out)
    assert model.config.problem_type == "regression" and model.config.num_labels == 1
    assert config.data.label_names == ["score"]
    capsys.readouterr()
    assert cli_main(["predict", str(out), *PROBE]) == 0
    printed = [json.loads(line)["value"] for line in capsys.readouterr().out.splitlines()]
    assert printed == pytest.approx([p["value"] for p in in_memory], rel=1e-5)
    piped = load_pipeline(out)(PROBE)  # plain transformers pipeline: no sigmoid, raw units (the head was rescaled)
    assert [p["score"] for p in piped] == pytest.approx([p["value"] for p in in_memory], rel=1e-5)
    assert cli_main(["evaluate", str(out), "--file", str(tmp_path / "test.csv")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_examples"] == 30 and report["mse"] == pytest.approx(test["mse"], rel=1e-4)
    assert report["spearman"] == pytest.approx(test["spearman"], abs=1e-6)
    card = {r.metric_type: r.metric_value for r in ModelCard.load(out / "README.md").data.eval_results}
    assert card["rmse"] == test["rmse"] and card["pearson"] == test["pearson"]  # model-index: regression scores


@pytest.mark.parametrize("name", ["full-raw-targets", "bitfit", "adapter"])  # + test_multi_label
def test_every_strategy_saves_a_head_that_reloads_to_the_same_values(tmp_path: Path, tiny_model_dir: str,
                                                                     name: str) -> None:
    strategy = STRATEGY_CASES["full" if name == "full-raw-targets" else name]
    cfg = regression_config(tmp_path, tiny_model_dir, strategy)
    cfg.baselines, cfg.data.normalize_targets = False, name != "full-raw-targets"
    recipe = TextClassificationRecipe(cfg, train_dataset=Dataset.from_dict(toy_scores(40)))
    out = recipe.run().output_dir
    model, tokenizer, _ = load_for_inference(out)
    batch = tokenizer(PROBE, padding=True, return_tensors="pt")
    with torch.inference_mode():
        saved = model(**batch).logits.reshape(-1).numpy()
    assert saved == pytest.approx([p["value"] for p in recipe.predict(PROBE)], rel=1e-5)
    if cfg.data.normalize_targets:  # the head in memory is left as trained (standardised units)
        with torch.inference_mode():
            raw = recipe.trained_model().eval()(**batch).logits.reshape(-1).numpy()
        assert raw * recipe.problem.std + recipe.problem.mean == pytest.approx(saved, rel=1e-5)


BAD = {
    "target-not-a-number": ({"text": ["a b"] * 6, "score": ["1.5", "high"] * 3}, {}, "data.label_column", "row 0"),
    "target-is-nan": ({"text": ["a b"] * 6, "score": [1.0, 2.0, float("nan")] * 2}, {}, "data.label_column", "row 2"),
    "target-missing": ({"text": ["a b"] * 6, "score": [1.0, None, 2.0] * 2}, {}, "data.label_column", "row 1"),
    "target-column-missing": ({"text": ["a b"] * 6, "price": [1.0, 2.0] * 3}, {}, "data.label_column", "'score'"),
    "targets-all-equal": ({"text": ["a b", "c d"] * 6, "score": [3.0] * 12}, {}, "data.label_column", "every"),
    "num-labels-not-one": ({"text": ["a b"] * 6, "score": [1.0, 2.0] * 3}, {"num_labels": 3}, "model.num_labels",
                           "one value"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_regression_targets_name_the_parameter_and_row(tmp_path: Path, tiny_model_dir: str, case: str) -> None:
    rows, model, param, mention = BAD[case]
    cfg = regression_config(tmp_path, tiny_model_dir)
    for key, value in model.items():
        setattr(cfg.model, key, value)
    with pytest.raises(ConfigError) as err:
        TextClassificationRecipe(cfg, train_dataset=Dataset.from_dict(rows)).run()
    assert err.value.param == param and mention in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_minilm_learns_human_valence_ratings(tmp_path: Path) -> None:
    recipe = TextClassificationRecipe.from_yaml(ROOT / "recipes/configs/nlp/regression.yaml", [
        "data.max_train_samples=1600", "data.max_eval_samples=400", "training.max_steps=50",
        "training.learning_rate=3e-4", "training.eval_strategy=no", "training.save_strategy=no",
        "training.logging_steps=10", "training.disable_tqdm=true", f"output_dir={tmp_path / 'run'}"])
    result = recipe.run()
    test, base = result.metrics["test"], result.metrics["baselines"]
    assert test["mse"] < 0.7 * base["mean_prediction_mse"] and test["pearson"] > 0.5, (test, base)
    good, bad = recipe.predict(["wonderful", "horrible"])
    assert good["value"] > 0 > bad["value"]

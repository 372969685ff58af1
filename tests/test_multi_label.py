"""Multi-label heads (``model.problem_type: multi_label``) for text and images: the threshold search, the label
encodings, train -> save -> reload -> predict / evaluate on tiny models with every kind of strategy, the bad inputs,
and (slow) the real MiniLM / EfficientNet-Lite0 on the constructed offline sets."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from huggingface_hub import ModelCard
from PIL import Image

from conftest import FILLER, KEYWORDS, STRATEGY_CASES, tiny_config
from hf_transfer_kit.cli import main as cli_main
from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.data.text import prepare_splits
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.inference import classify, load_for_inference
from hf_transfer_kit.metrics.multi_label import THRESHOLD_GRID, multi_label_scores, tune_thresholds
from hf_transfer_kit.tasks import ImageClassificationRecipe, TextClassificationRecipe

ROOT = Path(__file__).parent.parent
PROBE = ["football pasta the a of", "a computer in the it", "of to in is the"]


def toy_rows(n: int = 120, seed: int = 0) -> dict[str, list]:
    """One to three topics per text, each marked by its keyword among filler words; some texts have none."""
    rng = random.Random(seed)
    rows: dict[str, list] = {"text": [], "labels": []}
    for _ in range(n):
        labels = sorted(rng.sample(list(KEYWORDS), rng.choice([0, 1, 1, 2])))
        words = rng.choices(FILLER, k=4) + [KEYWORDS[label] for label in labels]
        rng.shuffle(words)
        rows["text"].append(" ".join(words))
        rows["labels"].append(labels)
    return rows


def multi_label_config(tmp_path: Path, model_dir: str, strategy: dict | None = None, **training):
    cfg = tiny_config(tmp_path, model_dir, strategy, **training)
    cfg.model.problem_type, cfg.data.label_column = "multi_label", "labels"
    return cfg


# ---- the threshold search ----------------------------------------------------------------------------------------

def test_threshold_search_picks_the_best_global_and_per_label_thresholds() -> None:
    # label 0: positives score 0.32-0.4, negatives <= 0.22 -> any threshold in (0.22, 0.32] separates them; label 1:
    # positives 0.8, negatives 0.6 -> (0.6, 0.8]. One global threshold cannot separate both; per label can.
    probs = np.array([[0.32, 0.8], [0.40, 0.6], [0.12, 0.8], [0.22, 0.6], [0.35, 0.6], [0.1, 0.8]])
    labels = np.array([[1, 1], [1, 0], [0, 1], [0, 0], [1, 0], [0, 1]], dtype=float)
    micro = [multi_label_scores(probs, labels, t)["micro_f1"] for t in THRESHOLD_GRID]
    best = tune_thresholds(probs, labels)
    assert best[0] == best[1] and multi_label_scores(probs, labels, best)["micro_f1"] == pytest.approx(max(micro))
    assert max(micro) > multi_label_scores(probs, labels, 0.5)["micro_f1"]  # tuning changed something
    per_label = tune_thresholds(probs, labels, per_label=True)
    assert 0.22 < per_label[0] <= 0.32 and 0.6 < per_label[1] <= 0.8
    assert multi_label_scores(probs, labels, per_label)["subset_accuracy"] == 1.0
    # a label without positives keeps the global choice instead of a meaningless per-label one
    none_positive = tune_thresholds(probs, np.c_[labels[:, :1], np.zeros(6)], per_label=True)
    assert none_positive[1] == tune_thresholds(probs, np.c_[labels[:, :1], np.zeros(6)])[1]


# ---- label encodings ---------------------------------------------------------------------------------------------

def test_label_lists_ids_and_zero_one_columns_encode_to_the_same_multi_hot() -> None:
    rows = toy_rows(30)
    names = sorted(KEYWORDS)
    base = config_from_dict({"model": {"problem_type": "multi_label"}, "data": {"dataset": None, "test_size": 0.0}})
    data = base.data
    by_name, got = prepare_splits(data, 0, None, {"train": Dataset.from_dict({"text": rows["text"],
                                                                              "label": rows["labels"]})}, "multi_label")
    assert got == names
    ids = [[names.index(x) for x in row] for row in rows["labels"]]
    data.label_names = names
    by_id, _ = prepare_splits(data, 0, None, {"train": Dataset.from_dict({"text": rows["text"], "label": ids})},
                              "multi_label")
    data.label_names, data.label_columns = None, names
    columns = {n: [int(n in row) for row in rows["labels"]] for n in names}
    by_column, got = prepare_splits(data, 0, None, {"train": Dataset.from_dict({"text": rows["text"], **columns})},
                                    "multi_label")
    assert got == names
    for split in ("train", "validation"):
        assert by_name[split]["label"] == by_id[split]["label"] == by_column[split]["label"]
    expected = {t: [float(n in row) for n in names] for t, row in zip(rows["text"], rows["labels"])}
    assert all(expected[t] == v for t, v in zip(by_name["train"]["text"], by_name["train"]["label"]))


# ---- train, save, reload, predict, evaluate --------------------------------------------------------------------

def test_text_multi_label_learns_from_files_and_reloads_to_the_same_predictions(
        tmp_path: Path, tiny_model_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    for name, n, seed in (("train", 120, 0), ("test", 30, 1)):
        rows = toy_rows(n, seed)
        with (tmp_path / f"{name}.jsonl").open("w") as fh:
            for text, labels in zip(rows["text"], rows["labels"]):
                fh.write(json.dumps({"text": text, "labels": labels}) + "\n")
    cfg = multi_label_config(tmp_path, tiny_model_dir, max_steps=250, learning_rate=2e-3, per_device_train_batch_size=16)
    cfg.data.dataset, cfg.data.train_file, cfg.data.test_file = None, str(tmp_path / "train.jsonl"), \
        str(tmp_path / "test.jsonl")
    recipe = TextClassificationRecipe(cfg)
    result = recipe.run()
    test, base = result.metrics["test"], result.metrics["baselines"]
    trivial = max(base["all_positive_micro_f1"], base["prevalent_labels_micro_f1"], base["untrained_head_micro_f1"])
    assert test["micro_f1"] > trivial + 0.15, (test, base, [round(h["loss"], 3) for h in result.log_history if "loss" in h])
    assert test["micro_f1"] >= 0.8 and set(test["per_label"]) == set(KEYWORDS)

    out = result.output_dir
    saved = json.loads((out / "thresholds.json").read_text())
    assert saved["thresholds"] == test["thresholds"] and saved["tuned_on"] == "validation"
    assert all(0 < t < 1 for t in saved["thresholds"].values())
    model, tokenizer, config = load_for_inference(out)
    assert model.config.problem_type == "multi_label_classification"
    in_memory = recipe.predict(PROBE)
    capsys.readouterr()
    assert cli_main(["predict", str(out), *PROBE]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["labels"] for p in printed] == [p["labels"] for p in in_memory]
    for p, q in zip(printed, in_memory):
        assert p["scores"] == pytest.approx(q["scores"], abs=1e-5)
    # evaluate on the test file with the saved thresholds: the run's own test metrics
    assert cli_main(["evaluate", str(out), "--file", str(tmp_path / "test.jsonl")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_examples"] == 30
    assert report["micro_f1"] == pytest.approx(test["micro_f1"]) and report["macro_f1"] == pytest.approx(test["macro_f1"])
    # the card's model-index carries the multi-label scores (not single-label accuracy, absent here)
    card = {r.metric_type: r.metric_value for r in ModelCard.load(out / "README.md").data.eval_results}
    assert card["micro_f1"] == test["micro_f1"] and card["subset_accuracy"] == test["subset_accuracy"]


@pytest.mark.parametrize("name", ["linear_probe", "lora"])  # partial / PEFT; more in test_regression
def test_every_strategy_trains_and_saves_the_multi_label_head(tmp_path: Path, tiny_model_dir: str, name: str) -> None:
    cfg = multi_label_config(tmp_path, tiny_model_dir, STRATEGY_CASES[name])
    cfg.baselines = False
    recipe = TextClassificationRecipe(cfg, train_dataset=Dataset.from_dict(toy_rows(40)))
    out = recipe.run().output_dir
    model, tokenizer, _ = load_for_inference(out)
    batch = tokenizer(PROBE, padding=True, return_tensors="pt")
    with torch.inference_mode():
        torch.testing.assert_close(model(**batch).logits, recipe.trained_model().eval()(**batch).logits,
                                   rtol=1e-5, atol=1e-5)
    assert model.config.problem_type == "multi_label_classification" and model.config.num_labels == 3
    assert [r["labels"] for r in recipe.predict(PROBE)] == \
        [r["labels"] for r in classify(model, tokenizer, PROBE, decode=recipe.problem.decode)]


def colour_images(n: int, seed: int) -> tuple[list[np.ndarray], list[list[str]]]:
    """RGB noise; a strong red and / or blue channel marks the labels 'red' / 'blue' (or neither)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        present = [["red"], ["blue"], ["red", "blue"], []][i % 4]
        img = rng.normal(60, 20, (16, 16, 3))
        for name, channel in (("red", 0), ("blue", 2)):
            if name in present:
                img[..., channel] += 150
        images.append(np.clip(img, 0, 255).astype(np.uint8))
        labels.append(present)
    return images, labels


def test_image_multi_label_learns_saves_and_predicts_image_files(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from test_vision import tiny_vision_models

    model_dir = tiny_vision_models(tmp_path / "models")["efficientnet_lite"]
    train, test = colour_images(96, 0), colour_images(24, 1)
    cfg = config_from_dict({
        "task": "image-classification", "output_dir": str(tmp_path / "out"),
        "model": {"name_or_path": model_dir, "problem_type": "multi_label"},
        "data": {"dataset": None, "augment": False},
        "training": {"max_steps": 60, "per_device_train_batch_size": 16, "learning_rate": 1e-2, "logging_steps": 5,
                     "eval_strategy": "no", "bf16": False, "disable_tqdm": True}})
    recipe = ImageClassificationRecipe(cfg, train_dataset=Dataset.from_dict({"image": train[0], "label": train[1]}),
                                       test_dataset=Dataset.from_dict({"image": test[0], "label": test[1]}))
    result = recipe.run()
    metrics, base = result.metrics["test"], result.metrics["baselines"]
    assert metrics["micro_f1"] > max(base["all_positive_micro_f1"], base["prevalent_labels_micro_f1"]) + 0.15
    assert metrics["subset_accuracy"] > base["prevalent_labels_subset_accuracy"]
    paths = []
    for i, img in enumerate(test[0][:4]):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(img).save(paths[-1])
    capsys.readouterr()
    assert cli_main(["predict", str(result.output_dir), *paths]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["labels"] for p in printed] == [r["labels"] for r in recipe.predict(paths)]
    assert sum(sorted(p["labels"]) == sorted(t) for p, t in zip(printed, test[1][:4])) >= 3


# ---- bad inputs: named before any model is loaded ---------------------------------------------------------------

BAD = {
    "labels-not-lists": ({"text": ["a b", "c d"] * 3, "labels": ["sport", "tech"] * 3}, {}, "data.label_column",
                         "row 0"),
    "list-with-missing-entry": ({"text": ["a b"] * 6, "labels": [["x"], ["y", None]] * 3}, {}, "data.label_column",
                                "row 1"),
    "unknown-label-name": ({"text": ["a b"] * 6, "labels": [["x"], ["y", "z"]] * 3},
                           {"label_names": ["x", "y"]}, "data.label_names", "'z'"),
    "id-beyond-num-labels": ({"text": ["a b"] * 6, "labels": [[0], [1, 7]] * 3}, {"label_names": ["x", "y"]},
                             "data.label_names", "7"),
    "zero-one-column-holds-2": ({"text": ["a b"] * 6, "x": [0, 1] * 3, "y": [1, 2] * 3},
                                {"label_columns": ["x", "y"]}, "data.label_columns", "row 1"),
    "label-column-missing": ({"text": ["a b"] * 6, "x": [0, 1] * 3}, {"label_columns": ["x", "nope"]},
                             "data.label_columns", "nope"),
    "one-label-only": ({"text": ["a b"] * 6, "labels": [["x"], []] * 3}, {}, "data.label_column", "at least 2"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_multi_label_data_names_the_parameter_and_row(tmp_path: Path, tiny_model_dir: str, case: str) -> None:
    rows, data, param, mention = BAD[case]
    cfg = multi_label_config(tmp_path, tiny_model_dir)
    for key, value in data.items():
        setattr(cfg.data, key, value)
    with pytest.raises(ConfigError) as err:
        TextClassificationRecipe(cfg, train_dataset=Dataset.from_dict(rows)).run()
    assert err.value.param == param and mention in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("field", "value"), [("threshold", 1.0), ("threshold", 0), ("tune_threshold", "best"),
                                              ("problem_type", "multilabel")])
def test_bad_threshold_settings_fail_when_the_config_is_read(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"model": {field: value}})
    assert err.value.param == f"model.{field}"


def test_list_labels_without_multi_label_say_which_setting_to_use(tmp_path: Path, tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir)
    with pytest.raises(ConfigError, match="problem_type=multi_label"):
        TextClassificationRecipe(cfg, train_dataset=Dataset.from_dict({"text": ["a"] * 6, "label": [["x"]] * 6})).run()


# ---- the real models on the offline example sets (slow) -------------------------------------------------------

QUICK = ["training.max_steps=40", "training.eval_strategy=no", "training.save_strategy=no", "training.logging_steps=10",
         "training.disable_tqdm=true", "data.max_eval_samples=150"]


@pytest.mark.slow
def test_minilm_multi_label_bbc_news_beats_the_input_blind_baselines(tmp_path: Path) -> None:
    recipe = TextClassificationRecipe.from_yaml(ROOT / "recipes/configs/nlp/multi_label.yaml", QUICK + [
        "data.max_train_samples=640", "data.max_length=96", "training.learning_rate=3e-4",
        f"output_dir={tmp_path / 'run'}"])
    result = recipe.run()
    test, base = result.metrics["test"], result.metrics["baselines"]
    assert test["micro_f1"] > max(base["all_positive_micro_f1"], base["prevalent_labels_micro_f1"],
                                  base["untrained_head_micro_f1"]) + 0.2, (test, base)
    assert recipe.predict(["Arsenal beat Chelsea 2-0 in the cup final at Wembley"])[0]["labels"] == ["sports"]


@pytest.mark.slow
def test_efficientnet_multi_label_digit_pairs_learns(tmp_path: Path) -> None:
    recipe = ImageClassificationRecipe.from_yaml(ROOT / "recipes/configs/vision/multi_label.yaml", QUICK + [
        "data.image_size=48", f"output_dir={tmp_path / 'run'}"])
    result = recipe.run()
    test, base = result.metrics["test"], result.metrics["baselines"]
    assert test["micro_f1"] > max(base["all_positive_micro_f1"], base["prevalent_labels_micro_f1"],
                                  base["untrained_head_micro_f1"]) + 0.2, (test, base)

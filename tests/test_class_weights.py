"""Class imbalance (issue 18, item 6): ``model.class_weights: auto | none | [w1, w2, ...]`` for the single-label heads
of the text-, image- and token-classification tasks.

The rule and the loss are checked by hand; a short real run shows that the weighting changes what is learnt (on a
10:1 set whose unweighted optimum never predicts the minority class, the weighted run finds it); every head (text with
LoRA, image, token tags with -100 positions) is checked to train on the weighted loss and to report the plain one, and
the run records the decision in metrics.json and the card.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset

from conftest import FILLER, STRATEGY_CASES, tiny_config, toy_dataset
from hf_transfer_kit import TextClassificationRecipe
from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.problems.class_weights import (
    AUTO_RATIO, WeightedCrossEntropy, decide, describe, frequency_weights, imbalance_ratio,
)

# ---- the config ----------------------------------------------------------------------------------------------------

BAD = {
    "unknown-word": ({"class_weights": "balanced"}, None),
    "negative": ({"class_weights": [1.0, -2.0]}, None),
    "zero": ({"class_weights": [0, 1]}, None),
    "bool": ({"class_weights": [1, True]}, None),
    "not-a-number": ({"class_weights": [1, "heavy"]}, None),
    "infinite": ({"class_weights": [1, float("inf")]}, None),
    "empty": ({"class_weights": []}, None),
    "one-weight": ({"class_weights": [2.0]}, None),
    "mapping": ({"class_weights": {"sports": 2.0}}, None),
    "regression": ({"class_weights": [1, 2], "problem_type": "regression"}, None),
    "multi-label": ({"class_weights": [1, 2], "problem_type": "multi_label"}, None),
    "num-labels-disagree": ({"class_weights": [1, 2], "num_labels": 3}, None),
    "task-without-a-class-loss": ({"class_weights": [1, 2]}, "question-answering"),
    "distillation": ({"class_weights": [1, 2]}, "distill"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_class_weights_name_the_parameter(case: str) -> None:
    model, task = BAD[case]
    raw: dict[str, Any] = {"model": model}
    if task:
        raw["task"] = task
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    err = info.value
    assert err.param == "model.class_weights"
    assert str(err).startswith(f"model.class_weights={model['class_weights']!r}: ")
    assert any(word in err.fix for word in ("use", "give", "remove")), err.fix


@pytest.mark.parametrize("given, read", [("auto", "auto"), ("none", "none"), (None, "none"), ("Auto", "auto"),
                                         ([1, 2.5, 3], [1, 2.5, 3])])
def test_good_class_weights(given: Any, read: Any) -> None:
    assert config_from_dict({"model": {"class_weights": given}}).model.class_weights == read


def test_auto_is_the_default_and_multi_label_auto_is_allowed() -> None:
    assert config_from_dict({}).model.class_weights == "auto"
    assert config_from_dict({"model": {"problem_type": "multi_label"}}).model.class_weights == "auto"


# ---- the rule ------------------------------------------------------------------------------------------------------

def test_auto_switches_on_beyond_the_threshold_only() -> None:
    assert AUTO_RATIO == 3.0
    balanced = decide("auto", [50, 45, 40])
    assert not balanced.applied and balanced.imbalance_ratio == pytest.approx(1.25) and balanced.weights is None
    assert not decide("auto", [30, 10]).applied  # exactly 3:1 is not beyond it
    skewed = decide("auto", [90, 10])
    assert skewed.applied and skewed.rule == "inverse frequency"
    assert skewed.weights == pytest.approx([100 / (2 * 90), 100 / (2 * 10)])  # scikit-learn's "balanced"
    assert not decide("none", [90, 10]).applied


def test_weights_keep_the_average_example_at_one() -> None:
    counts = [900, 60, 30, 10]
    for power in (1.0, 0.25):
        weights = np.asarray(frequency_weights(counts, power))
        assert np.dot(counts, weights) == pytest.approx(sum(counts))
        assert weights[1] / weights[0] == pytest.approx((900 / 60) ** power)
    given = decide([1, 2, 4, 8], counts)
    assert given.applied and given.mode == "given"
    assert np.dot(counts, given.weights) == pytest.approx(sum(counts))  # rescaled; the ratios are the user's
    assert given.weights[3] / given.weights[0] == pytest.approx(8)


def test_a_class_missing_from_training_gets_the_largest_weight() -> None:
    weights = frequency_weights([80, 20, 0])
    assert weights[2] == max(weights) == weights[1]
    assert imbalance_ratio([80, 20, 0]) == 4 and imbalance_ratio([5, 0]) is None
    assert not decide("auto", [5, 0]).applied


def test_the_card_sentence_says_why() -> None:
    labels = ["a", "b"]
    on = describe(decide("auto", [72, 10]).record(labels))
    assert "skewed 7.2:1" in on and "beyond the 3:1 threshold" in on and "inverse frequency" in on
    off = describe(decide("auto", [12, 10]).record(labels))
    assert off.startswith("Class weighting: none") and "within the 3:1 threshold" in off
    tokens = describe(decide("auto", [5000, 3], 0.25, "tokens").record(labels))
    assert "tags were skewed 1,667:1" in tokens and "fourth root of inverse frequency" in tokens
    assert "given in `model.class_weights`" in describe(decide([1, 3], [5, 5]).record(labels))


# ---- the loss ------------------------------------------------------------------------------------------------------

def test_loss_is_weighted_cross_entropy_by_hand() -> None:
    torch.manual_seed(0)
    weights = [0.5, 2.0, 4.0]
    loss = WeightedCrossEntropy(weights)
    logits = torch.randn(6, 3, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 0, 0, 1])
    w = torch.tensor(weights)
    by_hand = (w[labels] * F.cross_entropy(logits, labels, reduction="none")).sum() / 6
    torch.testing.assert_close(loss({"logits": logits}, labels), by_hand)
    # torch's own weighted cross-entropy: the same per-example terms, normalised by the weights' sum instead
    torch.testing.assert_close(loss({"logits": logits}, labels) * 6 / w[labels].sum(),
                               F.cross_entropy(logits, labels, weight=w))
    # num_items_in_batch (the Trainer's count over the accumulated batch) is the divisor when given
    torch.testing.assert_close(loss({"logits": logits}, labels, num_items_in_batch=torch.tensor(12)), by_hand / 2)
    loss({"logits": logits}, labels).backward()
    assert logits.grad is not None
    # no gradient (evaluation): the plain cross-entropy, as the model itself reports it
    with torch.no_grad():
        torch.testing.assert_close(loss({"logits": logits}, labels), F.cross_entropy(logits, labels))


def test_loss_on_token_logits_ignores_minus_100_and_follows_the_logits_dtype() -> None:
    torch.manual_seed(0)
    loss = WeightedCrossEntropy([0.2, 3.0])
    logits = torch.randn(2, 5, 2, requires_grad=True)
    labels = torch.tensor([[-100, 0, 1, 0, -100], [-100, 1, 0, -100, -100]])
    keep = labels.reshape(-1) != -100
    flat_logits, flat_labels = logits.reshape(-1, 2)[keep], labels.reshape(-1)[keep]
    w = torch.tensor([0.2, 3.0])
    by_hand = (w[flat_labels] * F.cross_entropy(flat_logits, flat_labels, reduction="none")).sum() / keep.sum()
    torch.testing.assert_close(loss((logits,), labels), by_hand)
    half = logits.detach().bfloat16().requires_grad_()
    assert loss({"logits": half}, labels).dtype == torch.float32  # computed in float32 from bf16 logits
    torch.testing.assert_close(loss({"logits": half}, labels), by_hand.detach(), atol=2e-2, rtol=2e-2)


# ---- real runs -----------------------------------------------------------------------------------------------------

def ambiguous(n_major: int, n_minor: int, seed: int = 0) -> Dataset:
    """'computer' in 90 % of the minority's texts and 15 % of the majority's. With a 10:1 prior the unweighted
    optimum never predicts the minority (P(tech | computer) = 0.4); the balanced one predicts it whenever 'computer'
    appears (0.86), so the two losses disagree at convergence, not only on how fast they get there."""
    rng = random.Random(seed)
    rows: dict[str, list] = {"text": [], "label": []}
    for label, n, share in (("sports", n_major, 0.15), ("tech", n_minor, 0.9)):
        for i in range(n):
            words = rng.choices(FILLER, k=6) + (["computer"] if i < round(n * share) else [])
            rng.shuffle(words)
            rows["text"].append(" ".join(words))
            rows["label"].append(label)
    return Dataset.from_dict(rows).shuffle(seed=seed)


def skewed_run(tmp_path: Path, model_dir: str, mode: Any, **training: Any) -> Any:
    cfg = tiny_config(tmp_path / str(mode), model_dir, **{"max_steps": 100, "learning_rate": 2e-3,
                                                           "per_device_train_batch_size": 16, "logging_steps": 50,
                                                           "save_strategy": "no", **training})
    cfg.baselines = False
    cfg.model.class_weights = mode
    recipe = TextClassificationRecipe(cfg, train_dataset=ambiguous(200, 20), test_dataset=ambiguous(100, 100, seed=1))
    return recipe, recipe.run()


def test_weighting_learns_the_minority_class_the_plain_loss_gives_up(tmp_path: Path, tiny_model_dir: str) -> None:
    _, plain = skewed_run(tmp_path, tiny_model_dir, "none")
    recipe, weighted = skewed_run(tmp_path, tiny_model_dir, "auto")
    minority = plain.metrics["test"]["label_names"].index("tech")

    def minority_recall(result: Any) -> float:
        row = result.metrics["test"]["confusion_matrix"][minority]
        return row[minority] / sum(row)

    assert minority_recall(plain) < 0.1  # the unweighted optimum: always 'sports'
    assert minority_recall(weighted) > 0.6, weighted.metrics["test"]
    assert weighted.metrics["test"]["f1"] > plain.metrics["test"]["f1"] + 0.2  # macro-F1

    out = weighted.output_dir
    record = json.loads((out / "metrics.json").read_text())["class_weights"]
    assert record["mode"] == "auto" and record["applied"] and record["unit"] == "examples"
    assert record["counts"]["sports"] > AUTO_RATIO * record["counts"]["tech"]
    assert record["weights"]["tech"] / record["weights"]["sports"] == pytest.approx(
        record["counts"]["sports"] / record["counts"]["tech"], rel=1e-4)
    card = (out / "README.md").read_text()
    assert describe(record) in card and "the training labels were skewed 10:1" in card and "3:1 threshold" in card
    assert "| F1 (macro) |" in card and "| Accuracy |" in card
    assert json.loads((plain.output_dir / "metrics.json").read_text())["class_weights"]["mode"] == "none"
    assert "Class weighting: none (`model.class_weights: none`)" in (plain.output_dir / "README.md").read_text()

    # the weights only shaped training: the output is a plain transformers model that predicts the same
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert "class_weights" not in model.config.to_dict()
    classifier = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(out))
    texts = ["the computer of a", "the of and to"]
    assert [r["label"] for r in classifier(texts)] == [r["label"] for r in recipe.predict(texts)]


def test_auto_stays_off_on_balanced_labels(tmp_path: Path, tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir, max_steps=2, save_strategy="no")
    cfg.baselines = False
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(30))
    result = recipe.run()
    assert recipe.trainer.compute_loss_func is None  # the model's own loss, exactly as before
    record = result.metrics["class_weights"]
    assert record["mode"] == "auto" and not record["applied"] and record["imbalance_ratio"] < AUTO_RATIO
    assert "within the 3:1 threshold" in (result.output_dir / "README.md").read_text()


def test_a_wrong_length_list_fails_before_the_model_loads(tmp_path: Path, tiny_model_dir: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir)
    cfg.model.class_weights = [1.0, 2.0]  # the toy data has three classes
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(24))

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr(TextClassificationRecipe, "build_model", classmethod(never))
    with pytest.raises(ConfigError) as info:
        recipe.run()
    assert info.value.param == "model.class_weights"
    assert "the run has 3 classes, in this order: food, sports, tech" in str(info.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()


def test_gradient_accumulation_trains_as_one_weighted_batch(tmp_path: Path) -> None:
    """The loss divides by the Trainer's num_items_in_batch (the whole accumulated batch), so 2 x 4 examples with
    accumulation take the same optimizer step as 8 at once (dropout off, so both see the same forward pass)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from conftest import MINILM

    model_dir = tmp_path / "no-dropout"
    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=37, max_position_embeddings=128, hidden_dropout_prob=0.0,
                         attention_probs_dropout_prob=0.0)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    states, losses = [], []
    for batch, accumulate in ((8, 1), (4, 2)):
        cfg = tiny_config(tmp_path / f"ga{accumulate}", str(model_dir), max_steps=1, per_device_train_batch_size=batch,
                          gradient_accumulation_steps=accumulate, save_strategy="no", learning_rate=1e-2)
        cfg.baselines = False
        recipe = TextClassificationRecipe(cfg, train_dataset=ambiguous(40, 4))
        result = recipe.run()
        assert recipe.class_weighting.applied
        losses.append([h["loss"] for h in result.log_history if "loss" in h])
        states.append(recipe.trained_model().state_dict())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for name, value in states[0].items():
        torch.testing.assert_close(states[1][name], value, rtol=1e-4, atol=1e-5)


# ---- every head: the Trainer trains on the weighted loss and reports the plain one ---------------------------------

def _ner(n: int = 16) -> Dataset:
    rows = [("Ann met Bob in the old town today".split(), ["B-PER", "O", "B-PER", "O", "O", "O", "O", "O"]),
            ("we saw the show in Paris last night".split(), ["O", "O", "O", "O", "O", "B-LOC", "O", "O"])]
    return Dataset.from_dict({"tokens": [rows[i % 2][0] for i in range(n)],
                              "ner_tags": [rows[i % 2][1] for i in range(n)]})


def _head_recipe(head: str, tmp_path: Path, tiny_model_dir: str, vision_model: str) -> Any:
    from hf_transfer_kit.tasks import ImageClassificationRecipe, TokenClassificationRecipe

    if head == "text-lora":
        cfg = tiny_config(tmp_path, tiny_model_dir, STRATEGY_CASES["lora"], max_steps=2, save_strategy="no")
        return TextClassificationRecipe(cfg, train_dataset=ambiguous(40, 5))
    if head == "token-lora":
        cfg = tiny_config(tmp_path, tiny_model_dir, STRATEGY_CASES["lora"], max_steps=2, save_strategy="no")
        cfg.task = "token-classification"
        return TokenClassificationRecipe(cfg, train_dataset=_ner())
    from test_vision import CLASSES, image_dataset, toy_images, vision_config

    cfg = vision_config(tmp_path, vision_model, save_strategy="no")
    labels = [0] * 30 + [1, 2] * 4
    return ImageClassificationRecipe(cfg, train_dataset=image_dataset(toy_images(38), labels, CLASSES))


@pytest.mark.parametrize("head", ["text-lora", "token-lora", "image"])
def test_every_head_trains_on_the_weighted_loss(head: str, tmp_path: Path, tiny_model_dir: str,
                                                 vision_models: dict[str, str]) -> None:
    recipe = _head_recipe(head, tmp_path, tiny_model_dir, vision_models["vit"])
    recipe.setup()
    trainer = recipe.trainer
    assert isinstance(trainer.compute_loss_func, WeightedCrossEntropy)
    weighting = recipe.class_weighting
    assert weighting.applied and weighting.unit == ("tokens" if head.startswith("token") else "examples")
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    model = trainer.model
    model.train()
    with torch.no_grad():  # the same forward pass, for the hand computation (dropout off for both)
        model.eval()
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.float()
        plain = model(**batch).loss
    labels = batch["labels"].reshape(-1)
    keep = labels != -100
    w = torch.tensor(weighting.weights)[labels[keep]]
    by_hand = (w * F.cross_entropy(logits.reshape(-1, logits.shape[-1])[keep], labels[keep], reduction="none")).sum() \
        / keep.sum()
    model.eval()  # no dropout, but with gradients: the training branch of the loss
    trained_on = trainer.compute_loss(model, dict(batch), num_items_in_batch=keep.sum())
    torch.testing.assert_close(trained_on, by_hand, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # evaluation reports the model's own, unweighted loss
        reported = trainer.compute_loss(model, dict(batch), num_items_in_batch=keep.sum())
    torch.testing.assert_close(reported, plain, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(reported, trained_on)

    result = recipe.run()  # a short run of each head writes the record and the card's sentence
    record = result.metrics["class_weights"]
    rule = "the fourth root of inverse frequency" if head.startswith("token") else "inverse frequency"
    assert record["applied"] and record["rule"] == rule
    card = (result.output_dir / "README.md").read_text()
    assert rule in card
    # macro F1 beside accuracy: over classes for single-label heads, over entity types for NER
    assert ("| F1 (entities, macro over types) |" if head.startswith("token") else "| F1 (macro) |") in card


def test_tag_sets_that_are_not_entities_report_macro_f1_over_tags() -> None:
    from hf_transfer_kit.tasks import TokenClassificationRecipe

    cfg = config_from_dict({"task": "token-classification", "data": {"label_names": ["NN", "VB", "DT"]}})
    assert TokenClassificationRecipe.result_metrics(cfg)["f1"] == "F1 (macro over tags)"
    cfg.data.label_names = ["O", "B-PER", "I-PER"]
    assert TokenClassificationRecipe.result_metrics(cfg)["macro_f1"] == "F1 (entities, macro over types)"


@pytest.fixture(scope="module")
def vision_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from test_vision import tiny_vision_models

    return tiny_vision_models(tmp_path_factory.mktemp("tiny-vision"))

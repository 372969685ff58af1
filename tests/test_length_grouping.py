"""Length-grouped batches (``training.train_sampling_strategy: group_by_length``): an opt-in speed lever for text with
per-batch padding, not a default -- where lengths identify the label, grouped batches lean to one class
(docs/training.md, "Batches of similar length")."""

from __future__ import annotations

import random

from datasets import Dataset

from hf_transfer_kit.tasks import TextClassificationRecipe

from conftest import FILLER, KEYWORDS, STRATEGY_CASES, tiny_config, toy_dataset
from test_adaptive_defaults import _mean_pooled_checkpoint


def varied_lengths(n: int = 160, seed: int = 0) -> Dataset:
    """Keyword-labelled texts of 1 to 30 filler words, as short user data (reviews, tweets) vary."""
    rng = random.Random(seed)
    labels = list(KEYWORDS)
    rows = {"text": [], "label": []}
    for i in range(n):
        words = rng.choices(FILLER, k=rng.randint(1, 30)) + [KEYWORDS[labels[i % len(labels)]]]
        rows["text"].append(" ".join(words))
        rows["label"].append(labels[i % len(labels)])
    return Dataset.from_dict(rows)


def batches(tmp_path, tiny_model_dir: str, train: Dataset, **training) -> tuple[str, list[dict]]:
    cfg = tiny_config(tmp_path, tiny_model_dir, **training)
    recipe = TextClassificationRecipe(cfg, train_dataset=train, eval_dataset=toy_dataset(12, seed=1))
    recipe.setup()
    return str(recipe.args.train_sampling_strategy), list(recipe.trainer.get_train_dataloader())


def padded_over_real(loaded: list[dict]) -> float:
    return sum(b["attention_mask"].numel() for b in loaded) / sum(int(b["attention_mask"].sum()) for b in loaded)


def test_grouping_is_opt_in_and_cuts_the_padding(tmp_path, tiny_model_dir: str) -> None:
    default, shuffled = batches(tmp_path / "default", tiny_model_dir, varied_lengths())
    chosen, grouped = batches(tmp_path / "grouped", tiny_model_dir, varied_lengths(),
                              train_sampling_strategy="group_by_length")
    assert default.endswith("random") and chosen.endswith("group_by_length")
    assert padded_over_real(shuffled) > 1.3  # the data really varies: random batches pad a lot
    assert padded_over_real(grouped) < 1.25 and padded_over_real(grouped) < 0.8 * padded_over_real(shuffled)


def test_why_it_is_not_a_default_lengths_that_name_the_label_skew_the_batches(tmp_path,
                                                                                    tiny_model_dir: str) -> None:
    rows = {"text": [], "label": []}
    for i in range(96):  # each class has its own length: 1, 5 or 9 filler words
        label = list(KEYWORDS)[i % 3]
        rows["text"].append(" ".join([KEYWORDS[label]] + ["the"] * (1 + 4 * (i % 3))))
        rows["label"].append(label)
    _, grouped = batches(tmp_path / "grouped", tiny_model_dir, Dataset.from_dict(rows),
                         train_sampling_strategy="group_by_length")
    _, shuffled = batches(tmp_path / "random", tiny_model_dir, Dataset.from_dict(rows))
    def majority(loaded: list[dict]) -> float:  # the mean share of each batch's most frequent class
        return sum(max(b["labels"].tolist().count(c) for c in range(3)) / len(b["labels"]) for b in loaded) / len(loaded)

    assert majority(grouped) > 0.7 and majority(shuffled) < 0.6, (majority(grouped), majority(shuffled))


def test_cached_feature_probe_trains_when_grouping_is_on(tmp_path, tiny_model_dir: str) -> None:
    """The probe's head trains on fixed-size feature vectors: it samples at random whatever the setting."""
    model_dir = _mean_pooled_checkpoint(tiny_model_dir, tmp_path)
    cfg = tiny_config(tmp_path, model_dir, STRATEGY_CASES["linear_probe"], max_steps=-1, num_train_epochs=30,
                      learning_rate=0.1, train_sampling_strategy="group_by_length")
    result = TextClassificationRecipe(cfg, train_dataset=toy_dataset(48), eval_dataset=toy_dataset(12, seed=1)).run()
    assert result.metrics["train"]["linear_probe"]["cached_features"]
    losses = [e["loss"] for e in result.log_history if "loss" in e]
    assert losses[-1] < losses[0] - 0.2  # the head learned on the cached features

"""Text classification batches examples of similar length by default (``Recipe.pads_per_batch``): with per-batch
padding, a random batch of short, varied texts computes ~2x its real tokens."""

from __future__ import annotations

import random

from datasets import Dataset

from hf_transfer_kit.tasks import ImageClassificationRecipe, TextClassificationRecipe

from conftest import FILLER, KEYWORDS, tiny_config, toy_dataset


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


def padded_over_real(tmp_path, tiny_model_dir: str, **training) -> tuple[str, float]:
    cfg = tiny_config(tmp_path, tiny_model_dir, **training)
    recipe = TextClassificationRecipe(cfg, train_dataset=varied_lengths(), eval_dataset=toy_dataset(12, seed=1))
    recipe.setup()
    padded = real = 0
    for batch in recipe.trainer.get_train_dataloader():
        padded += batch["attention_mask"].numel()
        real += int(batch["attention_mask"].sum())
    return str(recipe.args.train_sampling_strategy), padded / real


def test_training_batches_group_similar_lengths_by_default(tmp_path, tiny_model_dir: str) -> None:
    strategy, grouped = padded_over_real(tmp_path / "default", tiny_model_dir)
    chosen, shuffled = padded_over_real(tmp_path / "random", tiny_model_dir, train_sampling_strategy="random")
    assert strategy.endswith("group_by_length") and chosen.endswith("random")  # the config's choice wins
    assert shuffled > 1.3, shuffled  # the data really varies: random batches pad a lot
    assert grouped < 1.25 and grouped < 0.8 * shuffled, (grouped, shuffled)


def test_only_tasks_that_pad_per_batch_group_by_length() -> None:
    assert TextClassificationRecipe.pads_per_batch and not ImageClassificationRecipe.pads_per_batch

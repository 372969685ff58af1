"""Train / validation / test for every task: the data's own splits checked, the missing ones carved (seeded), the
sample caps applied; and the column checks every loader shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datasets import ClassLabel, Dataset, DatasetDict

from ..config.schema import DataConfig
from ..errors import ConfigError


def require_columns(raw: Mapping[str, Dataset], wanted: Mapping[str, str]) -> None:
    """Every split has each column of ``wanted`` (parameter -> column); the error lists the columns it has."""
    for split, ds in raw.items():
        for param, column in wanted.items():
            if column not in ds.column_names:
                raise ConfigError(param, column, f"no such column in split '{split}'; its columns are "
                                  f"{ds.column_names}. Map yours with {param}=<name>.")


def null_count(ds: Dataset, column: str) -> int:
    """Missing values among the rows ``ds`` shows (an arrow view: honours select / filter, no Python copy)."""
    return ds.with_format("arrow")[column].null_count


def check_splits(raw: Mapping[str, Dataset], cfg: DataConfig) -> None:
    """The training split exists and no split is empty."""
    if cfg.train_split not in raw:
        raise ConfigError("data.train_split", cfg.train_split, f"no such split; use one of the data's splits "
                          f"{list(raw)}.")
    for split, ds in raw.items():
        if len(ds) == 0:
            raise ConfigError(f"data ({split} split)", 0, "the split is empty; give at least one example per class.")


def _split(ds: Dataset, size: float, seed: int, param: str) -> tuple[Dataset, Dataset]:
    """Seeded split, stratified by ``label`` where the data has class labels and every class allows;
    ``param`` is the setting that asked for it."""
    stratify = isinstance(ds.features.get("label"), ClassLabel)
    try:
        if not stratify:
            raise ValueError("no class labels to stratify by")
        parts = ds.train_test_split(test_size=size, seed=seed, stratify_by_column="label")
    except ValueError:  # no class labels, or a class too small to stratify: a plain seeded split
        try:
            parts = ds.train_test_split(test_size=size, seed=seed)
        except ValueError as err:  # too few examples to leave any on one side
            split = "validation" if param == "data.validation_size" else "test"
            raise ConfigError(param, size, f"cannot carve a {split} split from {len(ds)} training example(s) "
                              f"({err}); give more data, or pass a {split} set (data.{split}_file or "
                              f"{split}_dataset=...).") from err
    return parts["train"], parts["test"]


def carve_splits(encoded: Mapping[str, Dataset], cfg: DataConfig, seed: int) -> DatasetDict:
    """train / validation / test from the data's splits: the missing ones carved (seeded; stratified by ``label``
    where it holds class labels), then ``max_train_samples`` / ``max_eval_samples`` applied. Shared by every task:
    classification, tagging, QA, text corpora and generation pairs."""
    train = encoded[cfg.train_split]
    test = encoded.get(cfg.test_split)
    if test is None and cfg.test_size > 0:
        train, test = _split(train, cfg.test_size, seed, "data.test_size")
    validation = encoded.get(cfg.validation_split)
    if validation is None:
        train, validation = _split(train, cfg.validation_size or 0.1, seed, "data.validation_size")
    if test is None:
        test = validation
    splits = {"train": train, "validation": validation, "test": test}
    if cfg.max_train_samples:
        splits["train"] = train.shuffle(seed=seed).select(range(min(cfg.max_train_samples, len(train))))
    if cfg.max_eval_samples:
        for key in ("validation", "test"):
            ds = splits[key]
            splits[key] = ds.shuffle(seed=seed).select(range(min(cfg.max_eval_samples, len(ds))))
    return DatasetDict(splits)


def check_labels_seen_in_training(raw: Mapping[str, Dataset], cfg: DataConfig, labels_of: Any,
                                  param: str = "data.label_column") -> None:
    """Every class an evaluation split uses must occur in the training split: a class seen only in the test or
    validation data would become an extra, untrained output that scores 0 and is predicted later. Allowed only
    where ``data.label_names`` lists the classes explicitly (then such a class is kept on purpose).
    ``labels_of(ds)`` gives the set of class names a split uses; ``param`` names the column setting."""
    if cfg.label_names or cfg.train_split not in raw:
        return
    trained = labels_of(raw[cfg.train_split])
    for split, ds in raw.items():
        unseen = sorted(labels_of(ds) - trained, key=str) if split != cfg.train_split else []
        if unseen:
            raise ConfigError(param, getattr(cfg, param.removeprefix("data.")), f"split '{split}' has label(s) "
                              f"{unseen[:10]} that the training split never shows, so the model could not learn "
                              f"them (classes in training: {sorted(trained, key=str)[:10]}); add training examples "
                              "of them, drop those examples, or list every class in data.label_names to keep an "
                              "untrained class on purpose.")

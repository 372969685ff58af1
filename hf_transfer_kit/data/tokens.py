"""Token-classification data (NER, tagging): words + one tag per word, checked and split before the model loads.

Sources are the text task's (Hub name such as ``conll2003``, local json / jsonl / parquet files, in-memory
datasets, ``builtin:wnut16``); the words column holds lists of strings, already split into words, and the tags
column one tag per word: strings (``B-PER``), or ints named by a ``Sequence(ClassLabel)`` feature or by
``data.label_names``. Every row is checked here, so a misaligned row fails in seconds with its index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from datasets import ClassLabel, Dataset, DatasetDict

from ..config.schema import DataConfig
from ..errors import ConfigError
from .splits import carve_splits, check_labels_seen_in_training, check_splits, require_columns
from .files import load_raw

#: Label id for positions the loss and the metrics skip (special tokens, non-first sub-tokens).
IGNORE = -100


def token_columns(cfg: DataConfig) -> dict[str, str]:
    return {"data.words_column": cfg.words_column, "data.tags_column": cfg.tags_column}


def _feature_names(ds: Dataset, column: str) -> Optional[list[str]]:
    """Tag names from a ``Sequence(ClassLabel)`` / ``List(ClassLabel)`` feature, else None."""
    inner = getattr(ds.features[column], "feature", None)
    return list(inner.names) if isinstance(inner, ClassLabel) else None


def tag_names(raw: Mapping[str, Dataset], cfg: DataConfig) -> list[str]:
    """``data.label_names``, else the feature's names, else the sorted string tags with ``O`` first."""
    first = raw[cfg.train_split]

    def tags_of(ds: Dataset) -> set:
        inner = _feature_names(ds, cfg.tags_column)
        used = {t for row in ds[cfg.tags_column] if isinstance(row, list) for t in row if isinstance(t, (str, int))}
        return {inner[t] if inner and isinstance(t, int) and 0 <= t < len(inner) else t for t in used}

    check_labels_seen_in_training(raw, cfg, tags_of, param="data.tags_column")
    if cfg.label_names:
        return list(cfg.label_names)
    names = _feature_names(first, cfg.tags_column)
    if names:
        return names
    values = {t for ds in raw.values() for row in ds[cfg.tags_column] for t in row or ()}
    if values and not all(isinstance(v, str) for v in values):
        raise ConfigError("data.label_names", None, f"the tags in '{cfg.tags_column}' are ids "
                          f"({sorted(values, key=str)[:5]}...) with no names; set data.label_names to the tag names in "
                          "id order (e.g. [O, B-PER, I-PER, ...]) so entities can be read and saved.")
    return sorted(values, key=lambda t: (t != "O", t.partition("-")[2], t))


def _check_rows(ds: Dataset, split: str, cfg: DataConfig, names: Sequence[str]) -> None:
    """Words are strings, and each row has exactly one known tag per word (else: which row, and why)."""
    known = set(names)
    for row, (words, tags) in enumerate(zip(ds[cfg.words_column], ds[cfg.tags_column])):
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ConfigError("data.words_column", cfg.words_column, f"row {row} of split '{split}' holds "
                              f"{type(words).__name__} {str(words)[:60]!r}, not a list of words; split the text into "
                              "words first (e.g. text.split()).")
        if not words:
            raise ConfigError("data.words_column", cfg.words_column, f"row {row} of split '{split}' has no words; "
                              "drop empty rows first, e.g. ds.filter(lambda x: len(x[...]) > 0).")
        if not isinstance(tags, list) or len(tags) != len(words):
            count = len(tags) if isinstance(tags, list) else "no"
            raise ConfigError("data.tags_column", cfg.tags_column, f"row {row} of split '{split}' has {len(words)} "
                              f"words but {count} tags (labels misaligned: {words[:6]} / {str(tags)[:60]}); give "
                              "exactly one tag per word.")
        unknown = [t for t in tags if not (t in known if isinstance(t, str) else
                                           isinstance(t, int) and not isinstance(t, bool) and 0 <= t < len(names))]
        if unknown:
            param = "data.label_names" if cfg.label_names else "data.tags_column"
            raise ConfigError(param, list(names) if cfg.label_names else cfg.tags_column, f"row {row} of split "
                              f"'{split}' has tags {unknown[:5]} outside the {len(names)} tags {list(names)[:10]}; fix "
                              "the data or list every tag in data.label_names.")


def _encode(ds: Dataset, cfg: DataConfig, names: list[str]) -> Dataset:
    """Columns ``tokens`` and ``tags`` (int ids), whatever the source called them."""
    index = {n: i for i, n in enumerate(names)}
    ids = [[index[t] if isinstance(t, str) else t for t in row] for row in ds[cfg.tags_column]]
    words = ds[cfg.words_column]
    return Dataset.from_dict({"tokens": words, "tags": ids})


def prepare_token_splits(cfg: DataConfig, seed: int,
                         in_memory: Optional[Mapping[str, Dataset]] = None) -> tuple[DatasetDict, list[str]]:
    """``DatasetDict(train, validation, test)`` with ``tokens`` (words) and ``tags`` (ids), and the tag names."""
    raw = load_raw(cfg, in_memory)
    check_splits(raw, cfg)
    require_columns(raw, token_columns(cfg))
    names = tag_names(raw, cfg)
    for split, ds in raw.items():
        feature_names = _feature_names(ds, cfg.tags_column)
        if feature_names and cfg.label_names and feature_names != list(cfg.label_names):
            raise ConfigError("data.label_names", list(cfg.label_names), f"split '{split}' names its tags "
                              f"{feature_names[:10]}; remove data.label_names or make it match.")
        _check_rows(ds, split, cfg, names)
    if len(names) < 2:
        raise ConfigError("data.tags_column", cfg.tags_column, f"the data has only the tag {names}; a tagger needs at "
                          "least 2 (give examples with entities, or list every tag in data.label_names).")
    encoded = {split: _encode(ds, cfg, names) for split, ds in raw.items()}
    return carve_splits(encoded, cfg, seed), names


def continuation_ids(names: Sequence[str]) -> list[int]:
    """For each tag id, the id a word's later sub-tokens get with ``label_alignment: all`` (B-X -> I-X)."""
    index = {n: i for i, n in enumerate(names)}
    return [index.get("I-" + n[2:], i) if n.startswith("B-") else i for i, n in enumerate(names)]


def align_labels(word_ids: Sequence[Optional[int]], tags: Sequence[int], alignment: str,
                 continuation: Sequence[int]) -> list[int]:
    """One label per sub-token: the word's tag on its first piece; on later pieces ``IGNORE`` ('first') or the
    continuation tag ('all'); ``IGNORE`` on special tokens (``word_id`` None)."""
    labels: list[int] = []
    previous = None
    for word in word_ids:
        if word is None:
            labels.append(IGNORE)
        elif word != previous:
            labels.append(tags[word])
        else:
            labels.append(continuation[tags[word]] if alignment == "all" else IGNORE)
        previous = word
    return labels


def tokenize_and_align(batch: Mapping[str, list], tokenizer: Any, max_length: int, alignment: str,
                       continuation: Sequence[int]) -> dict[str, list]:
    """``datasets.map`` function: tokenise pre-split words and align their tags to the sub-tokens."""
    encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
    encoded["labels"] = [align_labels(encoded.word_ids(i), tags, alignment, continuation)
                         for i, tags in enumerate(batch["tags"])]
    return encoded

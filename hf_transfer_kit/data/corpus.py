"""Unlabelled text for masked-LM pretraining: plain-text files, or the text column of any dataset.

Why a separate loader from the classification one: pretraining text has no labels, so nothing is
encoded or stratified, and plain ``.txt`` files (one example per line, paragraph or file) are the usual
form of a domain corpus. Everything else (Hub names, csv / json / parquet files, ``builtin:`` corpora,
in-memory datasets) goes through :func:`hf_transfer_kit.data.files.load_raw`, so those sources behave and
fail exactly as they do for classification. Labels in such data are simply dropped.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from datasets import Dataset, DatasetDict, load_dataset

from ..config.schema import DataConfig
from ..errors import ConfigError
from .splits import carve_splits
from .files import load_raw

TEXT = "text"


def is_plain_text(path: str) -> bool:
    """A ``.txt`` file, a directory (of ``.txt`` files) or a glob pattern."""
    return Path(path).suffix.lower() == ".txt" or Path(path).is_dir() or any(ch in path for ch in "*?[")


def _text_files(path: str, param: str) -> list[str]:
    if Path(path).is_dir():
        found = sorted(str(p) for p in Path(path).rglob("*.txt"))
    elif any(ch in path for ch in "*?["):
        found = sorted(p for p in glob.glob(path, recursive=True) if Path(p).is_file())
    else:
        found = [path] if Path(path).is_file() else []
    if not found:
        raise ConfigError(param, path, "no text files there; give a .txt file, a directory holding .txt files, or a "
                          "glob such as 'corpus/**/*.txt'.")
    return found


def _load_text_files(cfg: DataConfig) -> DatasetDict:
    """Each split's ``.txt`` files through datasets' "text" builder (``sample_by``: line, paragraph, document)."""
    out = {}
    for split in ("train", "validation", "test"):
        path = getattr(cfg, f"{split}_file")
        if path is None:
            continue
        param = f"data.{split}_file"
        if not is_plain_text(path):
            raise ConfigError(param, path, "data.train_file is plain text, so the other files must be too; convert it "
                              "to .txt or use the same format for every split.")
        files = _text_files(path, param)
        # keep_linebreaks: a paragraph or document keeps its own line structure, as the tokenizer would see it
        loaded = load_dataset("text", data_files=files, sample_by=cfg.text_sample_by, keep_linebreaks=True,
                              split="train")
        out[cfg.train_split if split == "train" else getattr(cfg, f"{split}_split")] = loaded
    return DatasetDict(out)


def _only_text(ds: Dataset, column: str, split: str) -> Dataset:
    """The text column renamed to ``text``, rows with no text (blank lines, missing values) dropped."""
    if column not in ds.column_names:
        raise ConfigError("data.text_column", column, f"no such column in split '{split}'; its columns are "
                          f"{ds.column_names}. Map yours with data.text_column=<name>.")
    dtype = getattr(ds.features[column], "dtype", None)
    if dtype not in ("string", "large_string"):
        raise ConfigError("data.text_column", column, f"column holds {dtype or type(ds.features[column]).__name__} "
                          f"values in split '{split}', not text; point data.text_column at a text column.")
    ds = ds.select_columns([column])
    if column != TEXT:
        ds = ds.rename_column(column, TEXT)
    return ds.filter(lambda batch: [bool(t and t.strip()) for t in batch[TEXT]], batched=True, desc="drop empty texts")


def prepare_corpus(cfg: DataConfig, seed: int, in_memory: Optional[Mapping[str, Dataset]] = None) -> DatasetDict:
    """``DatasetDict(train, validation, test)`` with one ``text`` column; held-out splits carved (seeded) when absent.

    The held-out splits are whole texts (documents), carved before tokenisation, so no text is partly trained on and
    partly evaluated; ``max_train_samples`` / ``max_eval_samples`` cap texts, not token blocks.
    """
    plain = not in_memory and bool(cfg.train_file) and is_plain_text(str(cfg.train_file))
    raw = _load_text_files(cfg) if plain else load_raw(cfg, in_memory)
    if cfg.train_split not in raw:
        raise ConfigError("data.train_split", cfg.train_split, f"no such split; use one of the data's splits "
                          f"{list(raw)}.")
    column = TEXT if plain else cfg.text_column  # datasets' "text" builder always names its column "text"
    texts = {split: _only_text(ds, column, split) for split, ds in raw.items()}
    for split, ds in texts.items():
        if len(ds) == 0:
            raise ConfigError(f"data ({split} split)", 0, "the split holds no text (every row is empty); give at least "
                              "one non-empty text.")
    return carve_splits(texts, cfg, seed)

"""Targets that are not one class per example: multi-label sets and regression values (``model.problem_type``).

The text and image recipes share these, as they share the single-label encoding in :mod:`.text`: every
check runs on the raw data before the model is loaded, and an error names the parameter, the split and
the first row at fault. What comes out is the same ``label`` column shape transformers expects for the
problem type:

* ``multi_label``: a float multi-hot vector per example (``BCEWithLogitsLoss`` needs float targets), from a
  column of label lists (names or ids) or from several 0/1 columns (``data.label_columns``);
* ``regression``: one float per example; its name (the target column) is the single "label" of the head.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

from datasets import ClassLabel, Dataset, DatasetDict, Value

from ..config.schema import DataConfig
from ..errors import ConfigError
from .splits import carve_splits, check_labels_seen_in_training, check_splits, require_columns


def _list_feature(feature: Any) -> Optional[Any]:
    """The item feature of a list-valued column (``List`` / ``LargeList`` / ``Sequence``), else None."""
    return getattr(feature, "feature", None) if type(feature).__name__ in ("List", "LargeList", "Sequence") else None


def _first(values: Sequence[Any], bad: Callable[[Any], bool]) -> Optional[int]:
    return next((i for i, v in enumerate(values) if bad(v)), None)


def _row(split: str, index: int, value: Any) -> str:
    return f"split '{split}' row {index} holds {value!r}"


# ---- multi-label -----------------------------------------------------------------------------------------------

def _multi_hot_from_columns(raw: Mapping[str, Dataset], cfg: DataConfig) -> tuple[dict[str, list], list[str]]:
    columns = list(cfg.label_columns or [])
    if len(columns) < 2 or len(set(columns)) != len(columns):
        raise ConfigError("data.label_columns", columns, "give at least 2 distinct 0/1 columns, one per label, e.g. "
                          "[toxic, insult, threat].")
    encoded = {}
    for split, ds in raw.items():
        table = [ds[c] for c in columns]
        for column, values in zip(columns, table):
            at = _first(values, lambda v: isinstance(v, str) or v is None or v not in (0, 1))
            if at is not None:
                raise ConfigError("data.label_columns", column, f"{_row(split, at, values[at])}; each label column "
                                  "must hold 0/1 (or true/false) for every example: fix or drop that row.")
        encoded[split] = [[float(v) for v in row] for row in zip(*table)]
    return encoded, columns


def _multi_label_names(raw: Mapping[str, Dataset], cfg: DataConfig, num_labels: Optional[int]) -> list[str]:
    first = next(iter(raw.values()))
    item = _list_feature(first.features[cfg.label_column])

    def labels_of(ds: Dataset) -> set:
        inner = _list_feature(ds.features[cfg.label_column])
        values = {v for row in ds[cfg.label_column] for v in row}
        return {inner.int2str(v) for v in values} if isinstance(inner, ClassLabel) else values

    check_labels_seen_in_training(raw, cfg, labels_of)
    if cfg.label_names:
        return list(cfg.label_names)
    if isinstance(item, ClassLabel):
        return list(item.names)
    values = {v for ds in raw.values() for row in ds[cfg.label_column] for v in row}
    if all(isinstance(v, str) for v in values):
        return sorted(values)
    count = num_labels if num_labels is not None else max(values, default=-1) + 1
    return [str(i) for i in range(count)]


def _multi_hot_from_lists(raw: Mapping[str, Dataset], cfg: DataConfig,
                          num_labels: Optional[int]) -> tuple[dict[str, list], list[str]]:
    column = cfg.label_column
    for split, ds in raw.items():
        if _list_feature(ds.features[column]) is None:
            values = ds[column]
            at = _first(values, lambda v: not isinstance(v, list))
            raise ConfigError("data.label_column", column, f"{_row(split, at or 0, values[at or 0])}, not a list: "
                              "multi_label needs a list of label names or ids per example (e.g. ['sports', 'politics'],"
                              " [] for none); convert the column, or give 0/1 columns with data.label_columns.")
        values = ds[column]
        at = _first(values, lambda v: v is None or any(x is None or isinstance(x, (bool, float)) for x in v)
                    or len({type(x) for x in v}) > 1)
        if at is not None:
            raise ConfigError("data.label_column", column, f"{_row(split, at, values[at])}; give each example a list "
                              "of label names or of integer ids ([] for none), with no missing entries.")
    names = _multi_label_names(raw, cfg, num_labels)
    index = {n: i for i, n in enumerate(names)}
    encoded = {}
    for split, ds in raw.items():
        item = _list_feature(ds.features[column])
        rows = ds[column]
        if isinstance(item, ClassLabel):
            rows = [[item.int2str(v) for v in row] for row in rows]
        hot = []
        for i, row in enumerate(rows):
            vector = [0.0] * len(names)
            for value in row:
                pos = index.get(value) if isinstance(value, str) else value
                if pos is None or not 0 <= pos < len(names):
                    param = "data.label_names" if cfg.label_names else "model.num_labels"
                    shown = names if cfg.label_names else len(names)
                    raise ConfigError(param, shown, f"{_row(split, i, row)}: {value!r} is not one of the "
                                      f"{len(names)} labels {names[:10]}; fix the row or set {param} to cover it.")
                vector[pos] = 1.0
            hot.append(vector)
        encoded[split] = hot
    return encoded, names


def encode_multi_label(raw: Mapping[str, Dataset], cfg: DataConfig,
                       num_labels: Optional[int]) -> tuple[dict[str, Dataset], list[str]]:
    """Multi-hot float ``label`` vectors and the label names (from 0/1 columns or from lists of labels)."""
    if cfg.label_columns:
        hot, names = _multi_hot_from_columns(raw, cfg)
        drop = list(cfg.label_columns)
    else:
        hot, names = _multi_hot_from_lists(raw, cfg, num_labels)
        drop = [cfg.label_column]
    if num_labels is not None and num_labels != len(names):
        raise ConfigError("model.num_labels", num_labels, f"the data has {len(names)} labels {names[:10]}; set "
                          f"model.num_labels={len(names)} or leave it unset.")
    if len(names) < 2:
        raise ConfigError("data.label_column", cfg.label_column, f"the data has only the label {names}; multi_label "
                          "needs at least 2 (for one yes/no label use model.problem_type=single_label).")
    from datasets import List

    out = {}
    for split, ds in raw.items():
        kept = ds.remove_columns([c for c in dict.fromkeys(drop + ["label"]) if c in ds.column_names])
        out[split] = kept.add_column("label", hot[split], feature=List(Value("float32")))
    return out, names


# ---- regression ------------------------------------------------------------------------------------------------

def _not_a_number(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)


def encode_regression(raw: Mapping[str, Dataset], cfg: DataConfig,
                      num_labels: Optional[int]) -> tuple[dict[str, Dataset], list[str]]:
    """Float ``label`` values; the one "label name" is the target column's name (the head has one output)."""
    column = cfg.label_column
    if num_labels not in (None, 1):
        raise ConfigError("model.num_labels", num_labels, "regression predicts one value; set model.num_labels=1 or "
                          "leave it unset.")
    out = {}
    for split, ds in raw.items():
        values = ds[column]
        at = _first(values, _not_a_number)
        if at is not None:
            what = "a missing value" if values[at] is None else (
                "not a finite number" if isinstance(values[at], float) else "not a number")
            raise ConfigError("data.label_column", column, f"{_row(split, at, values[at])} ({what}); regression needs "
                              "a finite number in every row: drop or fix the row, or convert the column to numbers.")
        out[split] = ds.remove_columns(column).add_column("label", [float(v) for v in values],
                                                          feature=Value("float32"))
    return out, [column]


ENCODERS: dict[str, Callable[[Mapping[str, Dataset], DataConfig, Optional[int]], tuple[dict[str, Dataset], list[str]]]]
ENCODERS = {"multi_label": encode_multi_label, "regression": encode_regression}


def encode_targets(raw: DatasetDict, cfg: DataConfig, seed: int, num_labels: Optional[int],
                   input_columns: Mapping[str, str], problem_type: str) -> tuple[DatasetDict, list[str]]:
    """:func:`~hf_transfer_kit.data.text.encode_and_split` for multi-label and regression targets."""

    check_splits(raw, cfg)
    if problem_type == "multi_label" and cfg.label_columns:
        require_columns(raw, dict(input_columns))
        for column in cfg.label_columns:
            require_columns(raw, {"data.label_columns": column})
    else:
        require_columns(raw, {**input_columns, "data.label_column": cfg.label_column})
    encoded, names = ENCODERS[problem_type](raw, cfg, num_labels)
    return carve_splits(encoded, cfg, seed), names

"""Classification data: load from any source, check columns and labels, split, cap (text and images).

Everything here runs before the model is loaded, so bad data fails in seconds with a message
that names the data parameter at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from datasets import ClassLabel, Dataset, DatasetDict, load_dataset

from ..config.schema import DataConfig
from ..errors import ConfigError
from .files import load_raw
from .splits import carve_splits, check_labels_seen_in_training, check_splits, null_count, require_columns
from .targets import encode_targets

def text_columns(cfg: DataConfig) -> dict[str, str]:
    """The input columns a text task reads, keyed by the parameter that names each."""
    columns = {"data.text_column": cfg.text_column}
    if cfg.text_pair_column:
        columns["data.text_pair_column"] = cfg.text_pair_column
    return columns


def check_columns(raw: DatasetDict, cfg: DataConfig, input_columns: Mapping[str, str]) -> None:
    """Every split has the task's input columns and the label column; the error names the parameter to set."""
    require_columns(raw, {**input_columns, "data.label_column": cfg.label_column})


def check_text_columns(splits: DatasetDict, cfg: DataConfig) -> None:
    """Text inputs must be strings with no missing values: the tokenizer otherwise fails inside ``map`` with an
    error that names neither the column nor the setting."""
    for param, column in text_columns(cfg).items():
        for split, ds in splits.items():
            feature = ds.features[column]
            if getattr(feature, "dtype", None) not in ("string", "large_string"):
                kind = getattr(feature, "dtype", type(feature).__name__)
                raise ConfigError(param, column, f"column holds {kind} values in split '{split}', not text; point "
                                  f"{param} at a text column or convert it to strings first.")
            nulls = null_count(ds, column)
            if nulls:
                raise ConfigError(param, column, f"{nulls} example(s) in split '{split}' have no text; drop or fill "
                                  f"them first, e.g. ds.filter(lambda x: x[{column!r}] is not None).")


def _missing_labels(raw: DatasetDict, column: str) -> Optional[str]:
    for split, ds in raw.items():
        nulls = null_count(ds, column)
        if nulls:
            return f"{nulls} example(s) in split '{split}' have no label"
    return None


def _label_names(raw: DatasetDict, cfg: DataConfig, num_labels: Optional[int]) -> list[str]:
    first = next(iter(raw.values()))
    feature = first.features[cfg.label_column]
    missing = _missing_labels(raw, cfg.label_column)
    if missing:
        raise ConfigError("data.label_column", cfg.label_column, f"{missing}; drop or fill them first, e.g. "
                          f"ds.filter(lambda x: x[{cfg.label_column!r}] is not None).")
    if type(feature).__name__ in ("List", "LargeList", "Sequence"):
        raise ConfigError("data.label_column", cfg.label_column, "holds lists of labels; for several labels per "
                          "example set model.problem_type=multi_label.")
    def labels_of(ds: Dataset) -> set:
        column = ds.features[cfg.label_column]
        values = set(ds[cfg.label_column])
        return {column.int2str(v) for v in values} if isinstance(column, ClassLabel) else values

    check_labels_seen_in_training(raw, cfg, labels_of)
    if cfg.label_names:
        names = list(cfg.label_names)
    elif isinstance(feature, ClassLabel):
        names = list(feature.names)
    else:
        values = {v for ds in raw.values() for v in ds[cfg.label_column]}
        if all(isinstance(v, str) for v in values):
            names = sorted(values)
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            count = num_labels if num_labels is not None else max(values) + 1
            names = [str(i) for i in range(count)]
        else:
            raise ConfigError("data.label_column", cfg.label_column,
                              "labels must be all integers or all strings; convert them to class ids or "
                              "names (for float targets set model.problem_type=regression; for lists of labels, "
                              "model.problem_type=multi_label).")
    if num_labels is not None and num_labels != len(names):
        raise ConfigError("model.num_labels", num_labels, f"the data has {len(names)} classes {names[:10]}; set "
                          f"model.num_labels={len(names)} or fix data.label_names.")
    if len(names) < 2:
        # transformers reads num_labels=1 as regression: the run would train an MSE regressor on class ids.
        raise ConfigError("data.label_column", cfg.label_column, f"the data has only one class {names}; a classifier "
                          "needs at least 2: give examples of every class, or list them all in data.label_names.")
    return names


def _encode_labels(ds: Dataset, cfg: DataConfig, names: list[str], split: str) -> Dataset:
    column = cfg.label_column
    feature = ds.features[column]
    if isinstance(feature, ClassLabel) and list(feature.names) == names:
        return ds
    values = ds[column]
    if isinstance(feature, ClassLabel):
        values = [feature.int2str(v) for v in values]
    index = {n: i for i, n in enumerate(names)}
    if all(isinstance(v, str) for v in values):
        bad = sorted({v for v in values if v not in index})
        ids = [index.get(v, -1) for v in values]
    else:
        bad = sorted({v for v in values if not 0 <= v < len(names)})
        ids = list(values)
    if bad:
        param = "model.num_labels" if not cfg.label_names else "data.label_names"
        raise ConfigError(param, len(names) if param == "model.num_labels" else names,
                          f"split '{split}' has labels {bad[:10]} outside the {len(names)} classes; fix the data or "
                          f"set {param} to cover them.")
    return ds.remove_columns(column).add_column(column, ids).cast_column(column, ClassLabel(names=names))


def prepare_splits(cfg: DataConfig, seed: int, num_labels: Optional[int] = None,
                   in_memory: Optional[Mapping[str, Dataset]] = None,
                   problem_type: str = "single_label") -> tuple[DatasetDict, list[str]]:
    """Return ``DatasetDict(train, validation, test)`` with integer ``label`` and the class names (multi-hot /
    float ``label`` for the other problem types: :mod:`.targets`)."""
    raw = load_raw(cfg, in_memory)
    splits, names = encode_and_split(raw, cfg, seed, num_labels, text_columns(cfg), problem_type)
    check_text_columns(raw, cfg)  # the raw splits: the names the user knows, checked after columns exist
    return splits, names


def encode_and_split(raw: DatasetDict, cfg: DataConfig, seed: int, num_labels: Optional[int],
                     input_columns: Mapping[str, str],
                     problem_type: str = "single_label") -> tuple[DatasetDict, list[str]]:
    """Check columns, encode labels, carve seeded stratified validation/test splits, apply the caps.

    Task-agnostic: ``input_columns`` maps each input parameter (``data.text_column``, ``data.image_column``)
    to its column, so every task gets the same split logic and the same error messages. Multi-label and
    regression targets (``model.problem_type``) are encoded by :func:`.targets.encode_targets`.
    """
    if problem_type != "single_label":
        return encode_targets(raw, cfg, seed, num_labels, input_columns, problem_type)
    check_splits(raw, cfg)
    check_columns(raw, cfg, input_columns)
    names = _label_names(raw, cfg, num_labels)
    encoded = {s: _encode_labels(ds, cfg, names, s) for s, ds in raw.items()}
    encoded = {s: ds.rename_column(cfg.label_column, "label") if cfg.label_column != "label" else ds
               for s, ds in encoded.items()}
    return carve_splits(encoded, cfg, seed), names

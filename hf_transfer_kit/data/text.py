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
from .builtin import load_builtin
from .splits import carve_splits, check_splits, null_count, require_columns
from .targets import encode_targets

_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def _load_files(cfg: DataConfig) -> DatasetDict:
    files = {"train": cfg.train_file, "validation": cfg.validation_file, "test": cfg.test_file}
    out = {}
    for split, path in files.items():
        if path is None:
            continue
        param = f"data.{split}_file"
        suffix = Path(path).suffix.lower()
        if suffix not in _FORMATS:
            raise ConfigError(param, path, f"unsupported format; use one of {', '.join(_FORMATS)}.")
        if not Path(path).is_file():
            raise ConfigError(param, path, "the file does not exist; check the path.")
        try:
            out[split] = load_dataset(_FORMATS[suffix], data_files=str(path), split="train")
        except Exception as err:  # noqa: BLE001 -- datasets wraps parser errors in several types; same advice
            cause = err.__cause__ or err
            reason = " ".join(f"{type(cause).__name__}: {cause}".split())[:200]
            raise ConfigError(param, path, f"could not be read as {_FORMATS[suffix]} ({reason}); check that the file "
                              f"is valid {suffix[1:]} and holds at least one example.") from err
    return DatasetDict(out)


def load_raw(cfg: DataConfig, in_memory: Optional[Mapping[str, Dataset]] = None) -> DatasetDict:
    """In-memory datasets win over files, files over ``data.dataset`` (Hub name or ``builtin:``)."""
    if in_memory:
        return DatasetDict({k: v for k, v in in_memory.items() if v is not None})
    if not cfg.train_file and (cfg.validation_file or cfg.test_file):
        given = "data.validation_file" if cfg.validation_file else "data.test_file"
        raise ConfigError("data.train_file", None, f"{given} is set but no training file; set data.train_file too "
                          "(evaluation files are only read beside a training file).")
    if cfg.train_file:
        raw = _load_files(cfg)
        return DatasetDict({cfg.train_split if k == "train" else getattr(cfg, f"{k}_split"): v for k, v in raw.items()})
    if cfg.dataset is None:
        raise ConfigError("data.dataset", None, "give a Hub dataset name, data.train_file, or pass datasets in memory.")
    if cfg.dataset.startswith("builtin:"):
        return load_builtin(cfg.dataset)
    try:
        loaded = load_dataset(cfg.dataset, cfg.dataset_config)
    except Exception as err:  # noqa: BLE001 -- datasets raises many types; the user needs the same advice for all
        raise ConfigError("data.dataset", cfg.dataset, f"could not be loaded ({type(err).__name__}: {err}); check the "
                          "name, or use data.train_file for local files.") from err
    return loaded if isinstance(loaded, DatasetDict) else DatasetDict({cfg.train_split: loaded})


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

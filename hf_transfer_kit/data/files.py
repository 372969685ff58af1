"""Loading the raw splits from where the config says: in-memory datasets, the user's files (csv / json / jsonl /
parquet), a builtin corpus or the Hub. Shared by every task; the file checks name the line, byte or column at fault
(a UTF-8 check, a header without duplicate names and with the right delimiter, JSON Lines errors by line number)."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from datasets import Dataset, DatasetDict, load_dataset

from ..config.schema import DataConfig
from ..errors import ConfigError
from .builtin import load_builtin

_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def _check_text(path: Path, param: str) -> None:
    """A text file must be UTF-8: name the first byte that is not, and its line (read in blocks: files may be large)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 1
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                lines += block[:max(err.start, 0)].count(b"\n")
                bad = block[err.start] if 0 <= err.start < len(block) else 0
                raise ConfigError(param, str(path), f"is not UTF-8 text (byte 0x{bad:02x} on line {lines}, e.g. "
                                  "Latin-1 or Windows-1252); save it as UTF-8 and retry.") from err
            lines += block.count(b"\n")


def _check_csv_header(path: Path, param: str, delimiter: str) -> None:
    """The header row: no column named twice (pandas would rename one silently), and a delimiter that splits it."""
    with open(path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh, delimiter=delimiter), [])
    seen = [name for i, name in enumerate(header) if name in header[:i]]
    if seen:
        raise ConfigError(param, str(path), f"names the column(s) {sorted(set(seen))} more than once in its header "
                          f"{header[:12]}; give every column its own name.")
    if len(header) == 1:
        counts = {d: header[0].count(d) for d in (";", "\t", "|", ",") if d != delimiter and d in header[0]}
        if counts:
            seen_delimiter = max(counts, key=counts.get)
            raise ConfigError("data.csv_delimiter", delimiter, f"{path.name} has one column {header[0][:60]!r} when "
                              f"split at {delimiter!r}; it looks {seen_delimiter!r}-separated: set "
                              f"data.csv_delimiter={seen_delimiter!r}.")


def _json_problem(path: Path) -> Optional[str]:
    """Where a JSON / JSON Lines file breaks, by line number (datasets reports a character position). A whole-file
    JSON document (an array of rows, or an object of columns) is fine; otherwise each line must be one object."""
    text = path.read_text(encoding="utf-8")
    try:
        json.loads(text)
        return None
    except json.JSONDecodeError as whole:
        document = whole
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    first_line_alone = True
    try:
        json.loads(lines[0][1]) if lines else None
    except json.JSONDecodeError:
        first_line_alone = False
    if text.lstrip().startswith("[") or not first_line_alone:  # one JSON document, broken somewhere
        return f"line {document.lineno}, column {document.colno}: {document.msg}"
    for number, line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            return f"line {number}: {err.msg} (one JSON object per line expected)"
        if not isinstance(row, dict):
            return f"line {number} is a {type(row).__name__}, not an object of column values"
    return None


def _load_files(cfg: DataConfig) -> DatasetDict:
    files = {"train": cfg.train_file, "validation": cfg.validation_file, "test": cfg.test_file}
    out = {}
    for split, name in files.items():
        if name is None:
            continue
        param, path = f"data.{split}_file", Path(name).expanduser()
        suffix = path.suffix.lower()
        if suffix not in _FORMATS:
            raise ConfigError(param, name, f"unsupported format; use one of {', '.join(_FORMATS)}.")
        if not path.is_file():
            raise ConfigError(param, name, "the file does not exist; check the path.")
        if suffix != ".parquet":
            _check_text(path, param)
        if suffix == ".csv":
            _check_csv_header(path, param, cfg.csv_delimiter)
        problem = _json_problem(path) if suffix in (".json", ".jsonl") else None
        if problem:
            raise ConfigError(param, name, f"is not valid JSON at {problem}; fix that line.")
        options = {"sep": cfg.csv_delimiter} if suffix == ".csv" else {}
        try:
            out[split] = load_dataset(_FORMATS[suffix], data_files=str(path), split="train", **options)
        except Exception as err:  # noqa: BLE001 -- datasets wraps parser errors in several types; same advice
            cause = err.__cause__ or err
            reason = " ".join(f"{type(cause).__name__}: {cause}".split())[:200]
            raise ConfigError(param, name, f"could not be read as {_FORMATS[suffix]} ({reason}); check that the file "
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
        loaded = load_dataset(cfg.dataset, cfg.dataset_config, revision=cfg.dataset_revision)
    except Exception as err:  # noqa: BLE001 -- datasets raises many types; the user needs the same advice for all
        raise ConfigError("data.dataset", cfg.dataset, f"could not be loaded ({type(err).__name__}: {err}); check the "
                          "name, or use data.train_file for local files.") from err
    return loaded if isinstance(loaded, DatasetDict) else DatasetDict({cfg.train_split: loaded})

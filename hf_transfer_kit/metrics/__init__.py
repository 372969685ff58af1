"""Metrics through `evaluate`, loaded from modules shipped inside the package (works offline)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODULES_DIR = Path(__file__).parent / "modules"


@lru_cache(maxsize=None)
def load_metric(name: str = "classification") -> Any:
    """``evaluate.load`` on the packaged module ``name`` (no network)."""
    import evaluate

    return evaluate.load(str(MODULES_DIR / name))


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and macro precision / recall / F1 from logits: the Trainer's ``compute_metrics``."""
    if isinstance(logits, tuple):
        logits = logits[0]
    predictions = np.asarray(logits).argmax(-1)
    return load_metric("classification").compute(predictions=predictions, references=np.asarray(labels))


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_labels: int) -> list[list[int]]:
    """Rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_labels, num_labels), dtype=int)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix.tolist()


def write_json(data: dict[str, Any], path: Path) -> None:
    """Write JSON atomically (temp file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)

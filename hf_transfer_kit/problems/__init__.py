"""What a classification head predicts: one class, a set of labels, or a number (``model.problem_type``).

Why one switch on the existing text and image recipes instead of new near-copy recipes: the model class
(``AutoModelFor{Sequence,Image}Classification``), the data sources, the preprocessing and every strategy are
the same; only the target encoding, the head size, the loss and the read-out differ. transformers already
switches its loss on ``config.problem_type`` (cross-entropy, ``BCEWithLogitsLoss``, MSE), so setting that
field uses the model's own loss, and a saved model reloads with the right behaviour in any transformers
code, pipelines included. What the model config cannot carry lives in a :class:`Problem`: metrics, baselines,
threshold tuning (multi-label) and target standardisation (regression). Each strategy trains and saves the
head exactly as for single-label classification (it is the same ``classifier`` module; PEFT strategies keep
it in ``modules_to_save``).

This module stays import-light (the config schema validates against it); the classes load on first use.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Problem

PROBLEM_TYPES = ("single_label", "multi_label", "regression")
THRESHOLD_TUNING = ("global", "per_label", "none")
#: ``model.problem_type`` -> transformers' ``config.problem_type`` (single-label is left for transformers to infer,
#: so single-label outputs are unchanged).
TRANSFORMERS_PROBLEM_TYPES = {"single_label": None, "multi_label": "multi_label_classification",
                              "regression": "regression"}
PROBLEMS = {"single_label": "base:SingleLabel", "multi_label": "multi_label:MultiLabel",
            "regression": "regression:Regression"}


def head_config(problem_type: str, label_names: list[str]) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments that size the new head and pick its loss."""
    kwargs: dict[str, Any] = {"num_labels": len(label_names), "id2label": dict(enumerate(label_names)),
                              "label2id": {n: i for i, n in enumerate(label_names)}}
    if TRANSFORMERS_PROBLEM_TYPES[problem_type]:
        kwargs["problem_type"] = TRANSFORMERS_PROBLEM_TYPES[problem_type]
    return kwargs


def problem_class(problem_type: str) -> type[Problem]:
    module, _, name = PROBLEMS[problem_type].partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def get_problem(config: Any) -> Problem:
    """The problem for a recipe config (training)."""
    return problem_class(config.model.problem_type)(config)


def saved_problem(directory: str | Path, config: Any) -> Problem:
    """The problem of a saved run, with what training fixed (tuned thresholds) read back from ``directory``."""
    return problem_class(config.model.problem_type).from_saved(Path(directory), config)


__all__ = ["PROBLEM_TYPES", "THRESHOLD_TUNING", "get_problem", "head_config", "saved_problem"]

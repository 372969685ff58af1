"""The classification recipes' target-specific steps, delegated to ``model.problem_type``'s :class:`Problem`.

A mixin (before :class:`~hf_transfer_kit.tasks.base.Recipe` in the bases) so the text and image recipes share
one implementation of metrics, baselines, the final evaluation and the saved extras for every problem type.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

import numpy as np
from datasets import ClassLabel

from ..data.files import load_raw
from ..errors import ConfigError
from ..problems import get_problem, problem_class, saved_problem
from ..problems.base import Problem
from ..problems.class_weights import ClassWeightsMixin


def check_label_kind(config: Any, file: str) -> None:
    """A file of class ids cannot be scored against a run whose classes are names: the ids would be read in the run's
    label order (sorted names), which need not be the order the file's author meant."""
    names = list(config.data.label_names or [])
    if config.model.problem_type != "single_label" or not names or all(n == str(i) for i, n in enumerate(names)):
        return
    if config.data.train_file is None:  # an image folder: labels are its folder names
        return
    sample = load_raw(config.data)[config.data.train_split]
    column = config.data.label_column
    if column in sample.column_names and not isinstance(sample.features[column], ClassLabel):
        values = sample[column][:1000]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ConfigError("--file", file, f"its '{column}' column holds class ids, but this run's classes are "
                              f"names {names[:8]}; write the class names in the file (ids would be matched to the "
                              "run's own order, which need not be yours).")


class ProblemTypeMixin(ClassWeightsMixin):
    """Single-label, multi-label or regression heads on the same model class, data and strategies; a single-label
    head's loss may be class-weighted (``model.class_weights``, :class:`ClassWeightsMixin`)."""

    config: Any

    # ---- the task's own steps (text / image) ----------------------------------------------------------------------
    def raw_splits(self) -> tuple[Any, list[str]]:
        """(DatasetDict with train/validation/test and a ``label`` column as in the data, label names)."""
        raise NotImplementedError

    @classmethod
    def saved_logits(cls, model: Any, preprocessor: Any, config: Any, examples: Any) -> np.ndarray:
        """The loaded model's logits (examples x outputs) for rows of a raw split."""
        raise NotImplementedError

    @classmethod
    def predict_rows(cls, model: Any, preprocessor: Any, config: Any, inputs: list[str], decode: Any) -> list[dict]:
        """One prediction dict per input (text, or image path), decoded by the run's problem type."""
        raise NotImplementedError

    # ---- shared by every problem type -------------------------------------------------------------------------------
    def load_data(self) -> tuple[Any, list[str]]:
        splits, names = self.raw_splits()
        self.check_class_weights(names)  # a list of the wrong length fails as soon as the labels are known
        return self.problem.prepare(splits), names

    def class_weights_apply(self) -> bool:
        return self.supports_class_weights and self.config.model.problem_type == "single_label"

    def training_label_counts(self) -> list[int]:
        # the label column only: no image is decoded
        labels = np.asarray(list(self.splits["train"]["label"]), dtype=np.int64)
        return np.bincount(labels, minlength=len(self.label_names)).tolist()

    @classmethod
    def result_metrics(cls, config: Any) -> dict[str, str]:
        return dict(problem_class(config.model.problem_type).card_metrics)

    def best_metric(self) -> tuple[str, bool]:
        return problem_class(self.config.model.problem_type).main_metric

    @classmethod
    def predict_saved(cls, run_dir: str | os.PathLike, model: Any, preprocessor: Any, config: Any,
                      inputs: list[str], **options: Any) -> list[dict[str, Any]]:
        decode = saved_problem(run_dir, config).decode  # multi-label: the saved thresholds; regression: values
        return cls.predict_rows(model, preprocessor, config, inputs, decode)

    @classmethod
    def evaluate_saved(cls, run_dir: str | os.PathLike, model: Any, preprocessor: Any, config: Any,
                       file: Optional[str] = None, max_samples: Optional[int] = None) -> dict[str, Any]:
        """Scores of the saved head (in the targets' own units for regression, with the saved thresholds for
        multi-label) on the run's test split or every example of ``file``."""
        split, names, scoring_config = cls.saved_split(config, file, max_samples)
        logits = cls.saved_logits(model, preprocessor, scoring_config, split)
        metrics = saved_problem(run_dir, config).score(logits, np.asarray(split["label"]), names)
        metrics["num_examples"] = len(split)
        return metrics

    @classmethod
    def saved_split(cls, config: Any, file: Optional[str] = None,
                    max_samples: Optional[int] = None) -> tuple[Any, list[str], Any]:
        """The raw rows ``evaluate`` scores -- the run's test split as training carved it (seeded), or every example
        of ``file`` -- with the label names and the scoring config (``export --format onnx`` measures on them too)."""
        recipe = cls(config)  # type: ignore[call-arg]
        recipe.config.data = recipe.config.data.scoring(file, max_samples)
        if file:
            check_label_kind(recipe.config, file)
        splits, names = recipe.raw_splits()
        split = splits["train"] if file else splits["test"]
        if file and max_samples:
            split = split.select(range(min(max_samples, len(split))))
        return split, names, recipe.config

    @cached_property
    def problem(self) -> Problem:
        return get_problem(self.config)

    def load_model(self, model_path: str, label_names: list[str]) -> Any:
        model = super().load_model(model_path, label_names)  # type: ignore[misc]
        self.problem.check_model(model)
        return model

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        return self.problem.compute_metrics(eval_pred)

    def final_evaluation(self, split: str) -> dict[str, Any]:
        return self.problem.final_evaluation(self, split)

    def baselines(self) -> dict[str, float]:
        return self.problem.baselines(self)

    def save(self, directory: Path, metrics: dict[str, Any]) -> None:
        with self.problem.saving(self.trained_model(), directory):  # type: ignore[attr-defined]
            super().save(directory, metrics)  # type: ignore[misc]

"""The classification recipes' target-specific steps, delegated to ``model.problem_type``'s :class:`Problem`.

A mixin (before :class:`~hf_transfer_kit.recipes.base.Recipe` in the bases) so the text and image recipes share
one implementation of metrics, baselines, the final evaluation and the saved extras for every problem type.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from ..problems import get_problem
from ..problems.base import Problem


class ProblemTypeMixin:
    """Single-label, multi-label or regression heads on the same model class, data and strategies."""

    config: Any

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

"""Multi-label classification: sigmoid per label, F1 over labels, thresholds tuned on the validation split."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Optional

import numpy as np

from ..metrics import write_json
from ..metrics.multi_label import multi_label_scores, per_label_scores, sigmoid, tune_thresholds
from .base import Problem, logits_of, split_metrics

THRESHOLDS_FILE = "thresholds.json"


class MultiLabel(Problem):
    """Any number of labels per example. The decision threshold is part of the model: it is tuned after training
    on the validation split (``model.tune_threshold``), saved in ``thresholds.json`` and used by predict and
    evaluate, so the test split never chooses it."""

    main_metric = ("micro_f1", True)
    card_metrics: ClassVar[dict[str, str]] = {
        "micro_f1": "F1 (micro)", "macro_f1": "F1 (macro)", "subset_accuracy": "Subset accuracy",
        "micro_precision": "Precision (micro)", "micro_recall": "Recall (micro)", "label_accuracy": "Accuracy (per label)"}

    name = "multi_label"

    def __init__(self, config: Any, thresholds: Optional[np.ndarray] = None) -> None:
        super().__init__(config)
        self.thresholds = thresholds
        self.tuned_on: Optional[str] = None

    @classmethod
    def from_saved(cls, directory: Path, config: Any) -> MultiLabel:
        path = directory / THRESHOLDS_FILE
        if not path.is_file():
            return cls(config)
        saved = json.loads(path.read_text())["thresholds"]
        return cls(config, np.asarray([saved[name] for name in config.data.label_names], dtype=np.float64))

    def current(self, num_labels: int) -> np.ndarray:
        if self.thresholds is not None:
            return self.thresholds
        return np.full(num_labels, float(self.config.model.threshold))

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        probs = sigmoid(eval_pred.predictions)
        return multi_label_scores(probs, np.asarray(eval_pred.label_ids), self.current(probs.shape[-1]))

    def score(self, logits: np.ndarray, labels: np.ndarray, label_names: list[str]) -> dict[str, Any]:
        probs = sigmoid(logits)
        thresholds = self.current(probs.shape[-1])
        return {**multi_label_scores(probs, labels, thresholds),
                "per_label": per_label_scores(probs, labels, thresholds, label_names)}

    def tune(self, recipe: Any) -> None:
        """Pick the threshold(s) with the best validation F1 (once, after training)."""
        mode = self.config.model.tune_threshold
        if mode == "none" or self.tuned_on is not None:
            return
        output = recipe.trainer.predict(recipe.datasets["validation"], metric_key_prefix="validation")
        self.thresholds = tune_thresholds(sigmoid(logits_of(output.predictions)), np.asarray(output.label_ids),
                                          per_label=mode == "per_label", default=float(self.config.model.threshold))
        self.tuned_on = "validation"

    def final_evaluation(self, recipe: Any, split: str) -> dict[str, Any]:
        self.tune(recipe)
        output = recipe.trainer.predict(recipe.datasets[split], metric_key_prefix=split)
        metrics = split_metrics(output, split)
        probs, labels = sigmoid(logits_of(output.predictions)), np.asarray(output.label_ids)
        names = list(recipe.label_names)
        thresholds = self.current(len(names))
        metrics["per_label"] = per_label_scores(probs, labels, thresholds, names)
        metrics["at_default_threshold"] = multi_label_scores(probs, labels, float(self.config.model.threshold))
        metrics["thresholds"] = dict(zip(names, map(float, thresholds)))
        metrics["threshold_tuning"] = self.config.model.tune_threshold
        metrics["label_names"] = names
        metrics["num_examples"] = len(recipe.datasets[split])
        return metrics

    def baselines(self, recipe: Any) -> dict[str, float]:
        """Input-blind predictors: no label, every label, the k most frequent training labels (k = the mean
        number of labels per training example); and the pretrained model with its untrained head."""
        train = np.asarray(recipe.splits["train"]["label"], dtype=np.float64)
        test = np.asarray(recipe.splits["test"]["label"], dtype=np.float64)
        k = max(1, int(round(train.sum(1).mean())))
        prevalent = np.zeros(train.shape[1])
        prevalent[np.argsort(-train.mean(0), kind="stable")[:k]] = 1.0
        scores = {name: multi_label_scores(np.broadcast_to(probs, test.shape), test, 0.5)
                  for name, probs in (("all_negative", np.zeros(test.shape[1])), ("all_positive", np.ones(test.shape[1])),
                                      ("prevalent_labels", prevalent))}
        untrained = recipe.trainer.evaluate(recipe.datasets["test"], metric_key_prefix="baseline")
        return {"all_negative_micro_f1": scores["all_negative"]["micro_f1"],
                "all_negative_subset_accuracy": scores["all_negative"]["subset_accuracy"],
                "all_positive_micro_f1": scores["all_positive"]["micro_f1"],
                "prevalent_labels_micro_f1": scores["prevalent_labels"]["micro_f1"],
                "prevalent_labels_macro_f1": scores["prevalent_labels"]["macro_f1"],
                "prevalent_labels_subset_accuracy": scores["prevalent_labels"]["subset_accuracy"],
                "untrained_head_micro_f1": float(untrained["baseline_micro_f1"]),
                "untrained_head_loss": float(untrained["baseline_loss"])}

    def decode(self, logits: np.ndarray, id2label: Mapping[int, str]) -> list[dict[str, Any]]:
        """Every label whose score reaches its threshold, and all the scores."""
        probs = sigmoid(logits)
        thresholds = self.current(probs.shape[-1])
        names = [id2label[i] for i in range(probs.shape[-1])]
        return [{"labels": [n for n, p, t in zip(names, row, thresholds) if p >= t],
                 "scores": {n: float(p) for n, p in zip(names, row)}} for row in probs]

    @contextlib.contextmanager
    def saving(self, model: Any, directory: Path) -> Iterator[None]:
        names = list(model.config.id2label[i] for i in range(len(model.config.id2label)))
        thresholds = self.current(len(names))
        write_json({"problem_type": self.name, "thresholds": dict(zip(names, map(float, thresholds))),
                    "tuned_on": self.tuned_on, "tuning": self.config.model.tune_threshold},
                   Path(directory) / THRESHOLDS_FILE)
        yield

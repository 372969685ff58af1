"""The :class:`Problem` contract, and single-label classification (softmax, accuracy, confusion matrix)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..metrics import classification_metrics, confusion_matrix


def split_metrics(output: Any, split: str) -> dict[str, Any]:
    """``trainer.predict`` metrics without their ``<split>_`` prefix."""
    return {k.removeprefix(f"{split}_"): v for k, v in output.metrics.items()}


def logits_of(predictions: Any) -> np.ndarray:
    return np.asarray(predictions[0] if isinstance(predictions, tuple) else predictions)


class Problem:
    """Target-specific steps of a classification recipe: the recipe calls these, the strategies never see them."""

    name: ClassVar[str]
    #: The validation metric that picks the best checkpoint and drives early stopping, and whether higher is better.
    main_metric: ClassVar[tuple[str, bool]] = ("loss", False)

    def __init__(self, config: Any) -> None:
        self.config = config

    @classmethod
    def from_saved(cls, directory: Path, config: Any) -> Problem:
        """The problem of a run saved in ``directory`` (what training fixed is read back)."""
        return cls(config)

    def prepare(self, splits: Any) -> Any:
        """Adjust the encoded splits before preprocessing (e.g. standardise regression targets)."""
        return splits

    def check_model(self, model: Any) -> None:
        """Refuse a freshly built model this problem cannot use (before training)."""

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        """The Trainer's ``compute_metrics``: flat floats for the training log."""
        raise NotImplementedError

    def score(self, logits: np.ndarray, labels: np.ndarray, label_names: list[str]) -> dict[str, Any]:
        """Metrics of a saved model's logits (``hf-transfer-kit evaluate``)."""
        raise NotImplementedError

    def final_evaluation(self, recipe: Any, split: str) -> dict[str, Any]:
        raise NotImplementedError

    def baselines(self, recipe: Any) -> dict[str, float]:
        return {}

    def decode(self, logits: np.ndarray, id2label: Mapping[int, str]) -> list[dict[str, Any]]:
        """One prediction per row of logits, in the shape ``predict`` prints."""
        raise NotImplementedError

    @contextlib.contextmanager
    def saving(self, model: Any, directory: Path) -> Iterator[None]:
        """Around ``Recipe.save``: write what predict needs besides the model, adjust the saved head."""
        yield


def top_class(logits: np.ndarray, id2label: Mapping[int, str]) -> list[dict[str, Any]]:
    """Softmax, then the best class and its probability (``pipeline('text-classification')``'s shape)."""
    logits = np.asarray(logits, dtype=np.float64)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return [{"label": id2label[int(i)], "score": float(p[i])} for p, i in zip(probs, probs.argmax(-1))]


class SingleLabel(Problem):
    """One class per example: cross-entropy, accuracy / macro F1, majority-class baseline."""

    #: Test metrics for the card and its model-index (metrics.json key -> label).
    main_metric = ("accuracy", True)
    card_metrics: ClassVar[dict[str, str]] = {"accuracy": "Accuracy", "f1": "F1 (macro)",
                                              "precision": "Precision (macro)", "recall": "Recall (macro)"}

    name = "single_label"

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        return classification_metrics(eval_pred.predictions, eval_pred.label_ids)

    def score(self, logits: np.ndarray, labels: np.ndarray, label_names: list[str]) -> dict[str, Any]:
        metrics = classification_metrics(logits, labels)
        metrics["confusion_matrix"] = confusion_matrix(logits.argmax(-1), labels, len(label_names))
        return metrics

    def final_evaluation(self, recipe: Any, split: str) -> dict[str, Any]:
        output = recipe.trainer.predict(recipe.datasets[split], metric_key_prefix=split)
        metrics = split_metrics(output, split)
        metrics["confusion_matrix"] = confusion_matrix(np.argmax(logits_of(output.predictions), -1), output.label_ids,
                                                       len(recipe.label_names))
        metrics["label_names"] = list(recipe.label_names)
        metrics["num_examples"] = len(recipe.datasets[split])
        return metrics

    def baselines(self, recipe: Any) -> dict[str, float]:
        """Majority class of the training labels, and the pretrained model with its new, untrained head."""
        majority, _ = Counter(recipe.splits["train"]["label"]).most_common(1)[0]
        test_labels = np.asarray(recipe.splits["test"]["label"])
        untrained = recipe.trainer.evaluate(recipe.datasets["test"], metric_key_prefix="baseline")
        return {"majority_class_accuracy": float(np.mean(test_labels == majority)),
                "untrained_head_accuracy": float(untrained["baseline_accuracy"]),
                "untrained_head_loss": float(untrained["baseline_loss"])}

    def decode(self, logits: np.ndarray, id2label: Mapping[int, str]) -> list[dict[str, Any]]:
        return top_class(logits, id2label)

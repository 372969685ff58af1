"""Class-weighted cross-entropy for single-label heads (``model.class_weights: auto | none | [w1, w2, ...]``).

Why: on skewed labels plain cross-entropy is minimised well enough by favouring the frequent classes, and a
first run on the user's own data under-predicts the rare ones (high accuracy, poor macro-F1 and minority recall).

* ``auto`` (the default) counts the classes of the **training split** (token tags for token classification,
  positions the loss sees, -100 excluded) and weights the loss only when the most frequent class outnumbers the
  rarest by more than :data:`AUTO_RATIO` (3:1). Below that, unweighted cross-entropy on a pretrained model learns
  the minority classes well and weighting would only trade the majority's precision for nothing; every shipped
  single-label data set (BBC news 1.33:1; digits, MNIST, Fashion-MNIST at most 1.06:1) stays below it, so their
  results do not change.
  Past it the rarest class is under a quarter of a two-class set, where a model can score 75 % by ignoring it.
* Sentence and image labels get inverse-frequency weights, scikit-learn's "balanced" ``n / (k * n_c)``.
* Token tags get the **fourth root** of inverse frequency, ``n_c ** -0.25``: in NER the ``O`` tag is 90 %+ of the
  tokens and the rarest tag is thousands of times rarer (WNUT16: 1,969:1), so full inverse frequency weights one
  rare ``I-`` token like ~2,000 ``O`` tokens and the model tags entities everywhere. Measured on the shipped WNUT16
  config (MiniLM-L6, full, 3 epochs, seeds 42 and 7; docs/tasks.md): entity F1 0.361 unweighted, 0.180 with inverse
  frequency (precision 0.11), 0.373 with its square root, 0.418 with its fourth root (recall 0.35 -> 0.49, macro F1
  over entity types 0.13 -> 0.20) -- a weight spread of 6.7:1 instead of 1,969:1 or 44:1.
* A list gives the weights: one positive number per class, in the run's label order.

Weights (auto or given) are rescaled so that the average training example (token) keeps weight 1: only their
ratios matter, as in ``torch.nn.functional.cross_entropy(weight=...)``, and the loss keeps its scale, so the
learning rate means the same with and without weighting. The loss is the weighted sum over the batch divided by
the number of labelled items (the Trainer's ``num_items_in_batch``, counted over the whole accumulated batch and
all processes), so gradient accumulation and several processes train exactly as one large batch.

Only training is weighted: where no gradient flows (validation, test, baselines) the loss is the plain
cross-entropy, so reported losses compare with unweighted runs, and the saved model is an ordinary transformers
model (the weights are not part of it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import numpy as np

from ..errors import ConfigError

#: ``model.class_weights`` words; anything else must be a list of weights.
CLASS_WEIGHT_MODES = ("auto", "none")
#: ``auto`` weights the loss when the most frequent training class outnumbers the rarest by more than this.
AUTO_RATIO = 3.0
#: Frequency -> weight exponent of ``auto``: inverse frequency for whole examples, its fourth root for token tags.
INVERSE, FOURTH_ROOT_INVERSE = 1.0, 0.25
RULES = {INVERSE: "inverse frequency", FOURTH_ROOT_INVERSE: "the fourth root of inverse frequency",
         0.5: "the square root of inverse frequency"}
IGNORE_INDEX = -100


def check_setting(value: Any, problem_type: str = "single_label", num_labels: Optional[int] = None) -> Any:
    """Validate ``model.class_weights`` as read from the config (before any data is loaded); returns the value
    normalised ('auto', 'none' or a list of floats; YAML ``null`` reads as 'none')."""
    param = "model.class_weights"
    if value is None:
        return "none"
    if isinstance(value, str):
        if value.strip().lower() in CLASS_WEIGHT_MODES:
            return value.strip().lower()
        raise ConfigError(param, value, "use 'auto' (weight the loss when the training labels are skewed beyond "
                          f"{AUTO_RATIO:g}:1), 'none', or a list with one positive weight per class in the run's "
                          "label order, e.g. [1.0, 4.0].")
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list) or not value:
        raise ConfigError(param, value, "use 'auto', 'none', or a list with one positive weight per class in the "
                          "run's label order, e.g. [1.0, 4.0].")
    if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w > 0 for w in value):
        raise ConfigError(param, value, "every weight must be a positive, finite number (one per class in the run's "
                          "label order), e.g. [1.0, 4.0]; use 'none' for no weighting.")
    if problem_type != "single_label":
        raise ConfigError(param, value, f"class weights apply to single-label heads only; with "
                          f"model.problem_type={problem_type} remove model.class_weights (or set it to 'none').")
    if len(value) < 2:
        raise ConfigError(param, value, "give one positive weight per class (at least two), in the run's label "
                          "order, e.g. [1.0, 4.0].")
    if num_labels is not None and len(value) != num_labels:
        raise ConfigError(param, value, f"gives {len(value)} weights but model.num_labels is {num_labels}; give one "
                          "weight per class, in the run's label order.")
    return value


def check_length(value: Any, label_names: Sequence[str]) -> None:
    """A list of weights must have one entry per class of the run (checked as soon as the labels are known)."""
    if not isinstance(value, list) or len(value) == len(label_names):
        return
    shown = ", ".join(label_names[:20]) + (f", ... ({len(label_names)} in all)" if len(label_names) > 20 else "")
    example = [1.0] * len(label_names) if len(label_names) <= 12 else None
    raise ConfigError("model.class_weights", value, f"gives {len(value)} weights but the run has {len(label_names)} "
                      f"classes, in this order: {shown}; give one positive weight per class in that order"
                      + (f", e.g. {example}" if example else "") + ", or use 'auto' / 'none'.")


def imbalance_ratio(counts: Sequence[int]) -> Optional[float]:
    """Most frequent / least frequent class among those present in training (None with fewer than two)."""
    present = [int(c) for c in counts if c > 0]
    return max(present) / min(present) if len(present) >= 2 else None


def scaled(raw: Sequence[float], counts: Sequence[int]) -> list[float]:
    """``raw`` weights rescaled so the average training example (or token) has weight 1: sum(n_c w_c) = sum(n_c)."""
    counts_ = np.asarray(counts, dtype=np.float64)
    raw_ = np.asarray(raw, dtype=np.float64)
    total = float((counts_ * raw_).sum())
    return (raw_ * (counts_.sum() / total)).tolist() if total > 0 else raw_.tolist()


def frequency_weights(counts: Sequence[int], power: float = INVERSE) -> list[float]:
    """``n_c ** -power``, rescaled so the average training item has weight 1 (``power`` 1 is scikit-learn's
    "balanced" ``n / (k * n_c)``). A class absent from training never is a target, so its weight does not change the
    loss; it gets the largest weight, as the rarest class."""
    counts_ = np.asarray(counts, dtype=np.float64)
    present = counts_ > 0
    raw = np.zeros_like(counts_)
    raw[present] = counts_[present] ** -power
    weights = np.asarray(scaled(raw, counts_))
    weights[~present] = weights[present].max() if present.any() else 1.0
    return weights.tolist()


@dataclass
class ClassWeighting:
    """What ``model.class_weights`` decided for a run (metrics.json's ``class_weights``, the card's sentence)."""

    mode: str  # 'auto', 'none' or 'given'
    applied: bool
    counts: list[int]
    imbalance_ratio: Optional[float]
    unit: str = "examples"  # what was counted: 'examples' or 'tokens'
    rule: Optional[str] = None  # how the weights were made: RULES[...] or 'given'
    weights: Optional[list[float]] = None
    given: Optional[list[float]] = field(default=None)
    threshold: float = AUTO_RATIO

    def record(self, label_names: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": self.mode, "applied": self.applied, "threshold": self.threshold, "unit": self.unit,
            "imbalance_ratio": round(self.imbalance_ratio, 3) if self.imbalance_ratio is not None else None,
            "counts": dict(zip(label_names, self.counts))}
        if self.applied:
            out["rule"] = self.rule
            out["weights"] = {name: round(w, 6) for name, w in zip(label_names, self.weights or [])}
        if self.given is not None:
            out["given"] = dict(zip(label_names, self.given))
        return out


def decide(setting: Any, counts: Sequence[int], power: float = INVERSE, unit: str = "examples") -> ClassWeighting:
    """The weighting for ``model.class_weights`` = ``setting`` given the training counts (in label order)."""
    counts = [int(c) for c in counts]
    ratio = imbalance_ratio(counts)
    if isinstance(setting, list):
        return ClassWeighting("given", True, counts, ratio, unit, "given", scaled(setting, counts), list(setting))
    if setting == "auto" and ratio is not None and ratio > AUTO_RATIO:
        rule = RULES.get(power, f"inverse frequency to the power {power:g}")
        return ClassWeighting("auto", True, counts, ratio, unit, rule, frequency_weights(counts, power))
    return ClassWeighting(setting, False, counts, ratio, unit)


def describe(record: Mapping[str, Any]) -> str:
    """One sentence on whether the loss was class-weighted and why (the card; from metrics.json's record)."""
    ratio = record.get("imbalance_ratio")
    threshold = record.get("threshold", AUTO_RATIO)
    what = "tags" if record.get("unit") == "tokens" else "labels"
    shown = (f"{ratio:.1f}" if ratio < 10 else f"{ratio:,.0f}") if isinstance(ratio, (int, float)) else ""
    skew = f"skewed {shown}:1 (most to least frequent)" if shown else "of one class"
    if record.get("mode") == "given":
        return (f"Class weighting: the loss weighted each class by the weights given in `model.class_weights` "
                f"(the training {what} were {skew}).")
    if record.get("applied"):
        return (f"Class weighting: the training {what} were {skew}, beyond the {threshold:g}:1 threshold, so the "
                f"loss weighted classes by {record.get('rule', 'inverse frequency')} (`model.class_weights: auto`; "
                "weights in metrics.json).")
    if record.get("mode") == "auto":
        return (f"Class weighting: none; the training {what} were {skew}, within the {threshold:g}:1 threshold "
                "(`model.class_weights: auto`).")
    return f"Class weighting: none (`model.class_weights: none`); the training {what} were {skew}."


class WeightedCrossEntropy:
    """``Trainer(compute_loss_func=...)``: cross-entropy with one weight per class, in training only.

    Called as ``loss(outputs, labels, num_items_in_batch)``. Returns sum(w[y_i] * CE_i) / num_items_in_batch
    (the labelled items of the accumulated batch over all processes; this batch's count when the Trainer gives
    none). Labels of -100 (special tokens, continuation pieces) are ignored. The weights follow the logits'
    device and the loss is computed in float32 whatever the logits' precision. With no gradient (evaluation) the
    weights are left out, so reported losses are the plain cross-entropy.
    """

    def __init__(self, weights: Sequence[float]) -> None:
        import torch

        self.weights = torch.tensor(list(weights), dtype=torch.float32)

    def __call__(self, outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        import torch
        import torch.nn.functional as F

        logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[0]
        logits = logits.float()
        flat = logits.reshape(-1, logits.shape[-1])
        targets = labels.reshape(-1).to(device=logits.device, dtype=torch.long)
        weight = self.weights.to(device=flat.device, dtype=flat.dtype) \
            if torch.is_grad_enabled() and flat.requires_grad else None
        total = F.cross_entropy(flat, targets, weight=weight, ignore_index=IGNORE_INDEX, reduction="sum")
        count = num_items_in_batch if num_items_in_batch is not None else targets.ne(IGNORE_INDEX).sum()
        if torch.is_tensor(count):
            count = count.to(total.device)
        return total / count


class ClassWeightsMixin:
    """The recipe side: a task whose single-label head may be class-weighted (before the Recipe in the bases).

    The task says how to count its training labels (:meth:`training_label_counts`) and whether weighting applies
    to this run (:meth:`class_weights_apply`); the mixin checks a given list against the labels, builds the loss
    for ``Trainer(compute_loss_func=...)`` (:meth:`loss_function`) and records the decision in metrics.json.
    """

    #: False for a task built on a weighted one that must not be weighted (the distilled student).
    supports_class_weights: ClassVar[bool] = True
    #: The ``auto`` rule's exponent (:data:`INVERSE` or :data:`FOURTH_ROOT_INVERSE`) and what is counted.
    class_weight_power: ClassVar[float] = INVERSE
    class_weight_unit: ClassVar[str] = "examples"

    config: Any
    label_names: list[str]
    class_weighting: Optional[ClassWeighting] = None

    def class_weights_apply(self) -> bool:
        """Whether this run's head can be class-weighted (single-label)."""
        return self.supports_class_weights

    def training_label_counts(self) -> list[int]:
        """Count of each class (in label order) among the training split's targets."""
        raise NotImplementedError

    def check_class_weights(self, label_names: Sequence[str]) -> None:
        if self.class_weights_apply():
            check_length(self.config.model.class_weights, label_names)

    def loss_function(self) -> Any:
        """The Trainer's ``compute_loss_func``: a :class:`WeightedCrossEntropy`, or None (the model's own loss)."""
        self.class_weighting = None
        if not self.class_weights_apply():
            return None
        setting = self.config.model.class_weights
        check_length(setting, self.label_names)
        self.class_weighting = decide(setting, self.training_label_counts(), self.class_weight_power,
                                      self.class_weight_unit)
        if self.class_weighting.applied and getattr(getattr(self, "args", None), "process_index", 0) == 0:
            print(f"[hf_transfer_kit] {describe(self.class_weighting.record(self.label_names))}", flush=True)
        return WeightedCrossEntropy(self.class_weighting.weights) if self.class_weighting.applied else None

    def save(self, directory: Any, metrics: dict[str, Any]) -> None:
        if self.class_weighting is not None:
            metrics["class_weights"] = self.class_weighting.record(self.label_names)
        super().save(directory, metrics)  # type: ignore[misc]


__all__ = ["AUTO_RATIO", "CLASS_WEIGHT_MODES", "ClassWeighting", "ClassWeightsMixin", "WeightedCrossEntropy",
           "check_length", "check_setting", "decide", "describe", "frequency_weights", "imbalance_ratio"]

"""Regression: one float per example, MSE loss on standardised targets, the head rescaled before it is saved."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError
from ..metrics.regression import regression_scores
from .base import Problem, logits_of, split_metrics


def output_layers(model: Any) -> list[Any]:
    """The one-output ``nn.Linear`` layers of the head (outside the backbone; PEFT's trained and original copies)."""
    from torch import nn

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = getattr(inner, getattr(inner, "base_model_prefix", ""), None)
    inside = {id(m) for m in backbone.modules()} if isinstance(backbone, nn.Module) else set()
    return [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == 1 and id(m) not in inside]


class Regression(Problem):
    """A number per example. With ``data.normalize_targets`` the model learns ``(y - mean) / std`` of the training
    targets (MSE on a raw scale such as 0..1000 starts with huge losses and gradients); metrics are reported in the
    target's units, and on save the affine map is folded into the head's output layer, so the saved model
    predicts raw values for any loader (``pipeline``, plain transformers, ``predict``)."""

    main_metric = ("rmse", False)
    card_metrics: ClassVar[dict[str, str]] = {"rmse": "RMSE", "mae": "MAE", "pearson": "Pearson r",
                                              "spearman": "Spearman rho", "mse": "MSE"}

    name = "regression"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.mean, self.std = 0.0, 1.0  # identity: no standardisation, or a saved (already rescaled) model

    def raw(self, values: Any) -> np.ndarray:
        return np.asarray(values, dtype=np.float64).reshape(-1) * self.std + self.mean

    def prepare(self, splits: Any) -> Any:
        from datasets import DatasetDict, Value

        train = np.asarray(splits["train"]["label"], dtype=np.float64)
        if np.ptp(train) == 0:
            raise ConfigError("data.label_column", self.config.data.label_column, f"every training target is "
                              f"{train[0]:g}: there is nothing to learn; give examples with different values.")
        if not self.config.data.normalize_targets:
            return splits
        self.mean, self.std = float(train.mean()), float(train.std())
        return DatasetDict({split: ds.remove_columns("label").add_column(
            "label", ((np.asarray(ds["label"], dtype=np.float64) - self.mean) / self.std).tolist(),
            feature=Value("float32")) for split, ds in splits.items()})

    def check_model(self, model: Any) -> None:
        layers = output_layers(model)
        if self.config.data.normalize_targets and (not layers or any(m.bias is None for m in layers)):
            raise ConfigError("data.normalize_targets", True, "the model's head has no one-output linear layer with a "
                              "bias to fold the target scale into; set data.normalize_targets=false.")

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        return regression_scores(self.raw(logits_of(eval_pred.predictions)), self.raw(eval_pred.label_ids))

    def score(self, logits: np.ndarray, labels: np.ndarray, label_names: list[str]) -> dict[str, Any]:
        return regression_scores(self.raw(logits), np.asarray(labels, dtype=np.float64))

    def final_evaluation(self, recipe: Any, split: str) -> dict[str, Any]:
        output = recipe.trainer.predict(recipe.datasets[split], metric_key_prefix=split)
        metrics = split_metrics(output, split)  # `loss`: the MSE of the standardised targets; `mse`: in target units
        metrics.update(target=recipe.label_names[0], train_target_mean=self.mean, train_target_std=self.std,
                       num_examples=len(recipe.datasets[split]))
        return metrics

    def baselines(self, recipe: Any) -> dict[str, float]:
        """Predict the training mean for every example; and the pretrained model with its untrained head."""
        train_mean = float(self.raw(recipe.splits["train"]["label"]).mean())
        test = self.raw(recipe.splits["test"]["label"])
        mean = regression_scores(np.full_like(test, train_mean), test)
        untrained = recipe.trainer.evaluate(recipe.datasets["test"], metric_key_prefix="baseline")
        return {"mean_prediction_mse": mean["mse"], "mean_prediction_rmse": mean["rmse"],
                "mean_prediction_mae": mean["mae"], "untrained_head_mse": float(untrained["baseline_mse"]),
                "untrained_head_pearson": float(untrained["baseline_pearson"]),
                "untrained_head_loss": float(untrained["baseline_loss"])}

    def decode(self, logits: np.ndarray, id2label: Mapping[int, str]) -> list[dict[str, Any]]:
        return [{"label": id2label[0], "value": float(v)} for v in self.raw(logits)]

    @contextlib.contextmanager
    def saving(self, model: Any, directory: Path) -> Iterator[None]:
        """Save ``std * head(x) + mean``: scale the output layer in place, restore it exactly afterwards."""
        import torch

        if (self.mean, self.std) == (0.0, 1.0):
            yield
            return
        layers = output_layers(model)
        kept = [(m.weight.detach().clone(), m.bias.detach().clone()) for m in layers]
        with torch.no_grad():
            for m in layers:
                m.weight.mul_(self.std)
                m.bias.mul_(self.std).add_(self.mean)
        try:
            yield
        finally:
            with torch.no_grad():
                for m, (weight, bias) in zip(layers, kept):
                    m.weight.copy_(weight)
                    m.bias.copy_(bias)

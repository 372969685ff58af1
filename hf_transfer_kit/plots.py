"""PNG plots for model cards: the training curve and the confusion matrix.

Why PNG files next to the model (not inline data): the Hub renders images committed to the repo
and the card links them by relative path, so the same card reads well locally and on the Hub.
matplotlib is optional -- without it every function returns ``None`` and the card omits the images.
Figures are drawn through the object API with the Agg canvas, never ``pyplot``, so plotting does
not change the caller's global matplotlib backend or state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

#: Validation metrics tried in this order for the second curve (the first one the log holds wins).
VALIDATION_METRICS = ("eval_accuracy", "eval_f1", "eval_loss")


def _figure(width: float, height: float) -> Any:
    """A fresh Figure bound to an Agg canvas, or None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def curve_points(log_history: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of every log entry that records ``key`` (Trainer logs one dict per event)."""
    points = [(int(e["step"]), float(e[key])) for e in log_history if key in e and "step" in e]
    return [s for s, _ in points], [v for _, v in points]


def validation_metric(log_history: Sequence[dict[str, Any]]) -> Optional[str]:
    """The validation metric the curve shows: accuracy where evaluated, else F1, else the eval loss."""
    return next((k for k in VALIDATION_METRICS if any(k in e for e in log_history)), None)


def training_curve(log_history: Sequence[dict[str, Any]], path: Path) -> Optional[Path]:
    """Training loss (left axis) and the validation metric (right axis) against the optimizer step.

    Returns the written path, or None when there is nothing to draw (no logged loss) or no matplotlib.
    """
    steps, losses = curve_points(log_history, "loss")
    if not steps:
        return None
    fig = _figure(6.4, 3.6)
    if fig is None:
        return None
    from matplotlib.ticker import MaxNLocator

    ax = fig.add_subplot()
    ax.plot(steps, losses, color="tab:blue", marker="." if len(steps) < 30 else None, label="training loss")
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("training loss", color="tab:blue")
    metric = validation_metric(log_history)
    if metric is not None:
        eval_steps, values = curve_points(log_history, metric)
        other = ax.twinx()
        other.plot(eval_steps, values, color="tab:orange", marker="o", label=f"validation {metric[5:]}")
        other.set_ylabel(f"validation {metric[5:]}", color="tab:orange")
    ax.set_title("Training curve")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path) -> Optional[Path]:
    """Counts per (true, predicted) class as an annotated heat map; None without matplotlib or data."""
    if not matrix or not labels:
        return None
    size = max(3.0, 0.6 * len(labels) + 1.8)
    fig = _figure(size + 0.8, size)
    if fig is None:
        return None
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = list(range(len(labels)))
    ax.set_xticks(ticks, labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(ticks, labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center",
                    color="white" if peak and count > peak / 2 else "black")
    ax.set_title("Confusion matrix (test split)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path

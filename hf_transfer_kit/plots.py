"""PNG plots: the training curve and the confusion matrix for model cards, and the strategy comparison.

Why PNG files next to the model (not inline data): the Hub renders images committed to the repo
and the card links them by relative path, so the same card reads well locally and on the Hub.
matplotlib is optional -- without it every function returns ``None`` and the card omits the images.
Figures are drawn through the object API with the Agg canvas, never ``pyplot``, so plotting does
not change the caller's global matplotlib backend or state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

#: Validation metrics tried in this order for the second curve (the first one the log holds wins).
VALIDATION_METRICS = ("eval_accuracy", "eval_f1", "eval_loss")


def new_figure(width: float, height: float, dpi: int = 100) -> Any:
    """A fresh Figure bound to an Agg canvas (no pyplot state), or None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: Path) -> Path:
    """Lay the figure out and write it as PNG, creating the folder."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


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
    fig = new_figure(6.4, 3.6)
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
    return save_png(fig, path)


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path,
                     split: str = "test") -> Optional[Path]:
    """Counts per (true, predicted) class as an annotated heat map; None without matplotlib or data."""
    if not matrix or not labels:
        return None
    size = max(3.0, 0.6 * len(labels) + 1.8)
    fig = new_figure(size + 0.8, size)
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
    ax.set_title(f"Confusion matrix ({split} split)")
    return save_png(fig, path)


def strategy_comparison(rows: Sequence[dict[str, Any]], path: Path, majority: Optional[float] = None,
                        suggested: Optional[str] = None) -> Optional[Path]:
    """Test accuracy against trainable parameters (log scale) and against training time, one labelled point per
    strategy: what each strategy costs for what it scores. The from-scratch control is a grey cross, the suggested
    strategy is ringed, the majority class a dashed line. None without matplotlib or rows."""
    if not rows:
        return None
    fig = new_figure(11, 4.4)
    if fig is None:
        return None
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, xlabel, log in ((axes[0], "trainable_parameters", "trainable parameters (log scale)", True),
                                 (axes[1], "train_seconds", "training wall time (s)", False)):
        placed: list[tuple[float, float]] = []
        for i, row in enumerate(rows):
            scratch = row.get("init") == "random"
            # labels of points that (nearly) coincide are stacked instead of printed over each other
            here = (math.log10(max(row[key], 1e-9)) if log else row[key], row["accuracy"])
            span = max((r[key] for r in rows), default=1.0) or 1.0
            near = sum(abs(a - here[0]) < (0.15 if log else 0.04 * span) and abs(b - here[1]) < 0.03
                       for a, b in placed)
            placed.append(here)
            color = "grey" if scratch else f"C{i % 10}"
            ax.scatter(row[key], row["accuracy"], s=60, color=color, marker="x" if scratch else "o", zorder=3)
            if row["label"] == suggested:
                ax.scatter(row[key], row["accuracy"], s=260, facecolors="none", edgecolors="black", linewidths=1.5,
                           zorder=4)
            ax.annotate(row["label"], (row[key], row["accuracy"]), textcoords="offset points",
                        xytext=(6, 4 - 11 * near), fontsize=8, color=color)
        if majority is not None:
            ax.axhline(majority, color="grey", linestyle="--", linewidth=1, label="majority class")
        if log:
            ax.set_xscale("log")
        ax.margins(x=0.2)  # room for the labels of the outermost points
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[0].set_ylim(0, 1.04)
    if majority is not None:
        axes[0].legend(loc="lower right", fontsize=8)
    title = "Strategies on the same data and budget"
    fig.suptitle(title + (f" (ringed: suggested, {suggested})" if suggested else ""))
    return save_png(fig, path)


def distillation_tradeoff(rows: Sequence[dict[str, Any]], path: Path) -> Optional[Path]:
    """Test accuracy against parameters and against inference speed: the teacher (black star) and each student
    distilled (dot) and trained on the labels alone (cross, same size and speed). Rows: ``label``, ``parameters``,
    ``samples_per_second``, ``accuracy`` and, for students, ``without_kd_accuracy``. None without matplotlib or rows."""
    fig = new_figure(11, 4.4) if rows else None
    if fig is None:
        return None
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, xlabel in ((axes[0], "parameters", "parameters"),
                            (axes[1], "samples_per_second", "inference speed (samples/s, same test batches)")):
        for i, row in enumerate(rows):
            teacher = row.get("without_kd_accuracy") is None
            color = "black" if teacher else f"C{i % 10}"
            ax.scatter(row[key], row["accuracy"], s=120 if teacher else 60, color=color, marker="*" if teacher else "o",
                       zorder=3, label=None)
            if not teacher:
                ax.scatter(row[key], row["without_kd_accuracy"], s=60, color=color, marker="x", zorder=3)
            ax.annotate(row["label"], (row[key], row["accuracy"]), textcoords="offset points", xytext=(6, 4),
                        fontsize=8, color=color)
        ax.margins(x=0.25, y=0.1)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[0].scatter([], [], color="grey", marker="o", label="distilled from the teacher")
    axes[0].scatter([], [], color="grey", marker="x", label="same student, labels only")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle("Distillation: accuracy kept against size and speed")
    return save_png(fig, path)


def sweep_trials(rows: Sequence[dict[str, Any]], path: Path, metric: str, greater: bool,
                 importances: Optional[dict[str, float]] = None, parameter: Optional[str] = None,
                 log: bool = False) -> Optional[Path]:
    """A hyperparameter sweep: the validation metric of each trial against its number (completed trials as dots, the
    best so far as a line, pruned trials as grey crosses at their last reported value) and, beside it, the parameter
    importances when given, else the metric against the one searched ``parameter``. Rows: ``number``, ``state``,
    ``value``, ``last_reported`` and the parameters. None without matplotlib or rows."""
    if not rows:
        return None
    second = bool(importances) or parameter is not None
    fig = new_figure(11 if second else 6.4, 4.2)
    if fig is None:
        return None
    axes = fig.subplots(1, 2) if second else [fig.add_subplot()]
    ax = axes[0]
    complete = [r for r in rows if r["state"] == "complete" and r.get("value") is not None]
    pruned = [r for r in rows if r["state"] == "pruned" and r.get("last_reported") is not None]
    ax.scatter([r["number"] for r in complete], [r["value"] for r in complete], color="C0", zorder=3,
               label="complete")
    if pruned:
        ax.scatter([r["number"] for r in pruned], [r["last_reported"] for r in pruned], color="grey", marker="x",
                   zorder=3, label="pruned (last evaluation)")
    if complete:
        best, steps, values = None, [], []
        for r in complete:
            if best is None or (r["value"] > best if greater else r["value"] < best):
                best = r["value"]
            steps.append(r["number"])
            values.append(best)
        ax.step(steps, values, where="post", color="C1", label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {metric}")
    ax.set_title(f"Objective per trial ({'higher' if greater else 'lower'} is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if importances:
        names = sorted(importances, key=importances.get)
        axes[1].barh(names, [importances[n] for n in names], color="C2")
        axes[1].set_xlabel("importance (fANOVA, completed trials)")
        axes[1].set_title("Parameter importance")
        axes[1].grid(alpha=0.3, axis="x")
    elif parameter is not None:
        other = axes[1]
        other.scatter([r[parameter] for r in complete], [r["value"] for r in complete], color="C0", zorder=3)
        if pruned:
            other.scatter([r[parameter] for r in pruned], [r["last_reported"] for r in pruned], color="grey",
                          marker="x", zorder=3)
        if log:
            other.set_xscale("log")
        other.set_xlabel(parameter)
        other.set_ylabel(f"validation {metric}")
        other.set_title(f"Validation {metric} against {parameter}")
        other.grid(alpha=0.3)
    return save_png(fig, path)

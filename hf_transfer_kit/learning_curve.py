"""Learning curves for scarce data: test accuracy against labelled examples per class, per strategy, over seeds.

Which strategy to pick depends on how many labels there are: with 8 examples per class a linear probe or LoRA can
beat full fine-tuning, with thousands full fine-tuning usually wins. This module answers the question for the
user's own data and model: for each k it draws k training examples of every class (seeded, stratified), trains each
strategy on them, and scores the model on the **same** test split every time.

Design choices, and why:
- Subsets are nested: for one seed the k=8 draw is inside the k=32 draw, so a curve shows what more labels add,
  not a new random draw on top (the usual protocol of few-shot benchmarks).
- The seed changes the subset, the new head's initialisation and the training order together: the spread over
  seeds is what a user with *some* k labelled examples should expect.
- ``min_steps``: with the same epoch count, 8 examples per class would train for a handful of steps; runs on small
  subsets get as many epochs as it takes to reach ``min_steps`` optimizer steps.
- Each finished run is written to ``runs/<strategy>/k<k>-seed<s>.json`` with a fingerprint of its settings and
  data; a rerun with the same settings and data reuses it, so a killed curve continues where it stopped
  (:mod:`hf_transfer_kit.strategy_runs`, shared with ``compare``).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from .config import RecipeConfig
from .config.training import TRAINING_DEFAULTS
from .errors import ConfigError
from .strategy_runs import (StrategySpec, cached_record, data_digest, file_label, fingerprint, isolated_config,
                            strategy_specs, train_point, write_json)

ALL = "all"
Shot = Union[int, str]  # a number of examples per class, or "all"


def parse_shots(values: Sequence[Any]) -> list[Shot]:
    """``["8", "32", "all"]`` -> ``[8, 32, "all"]``: positive integers ascending, then ``all``; duplicates dropped."""
    if not values:
        raise ConfigError("--shots", list(values), "give at least one number of examples per class, e.g. "
                          "--shots 8 32 128 all.")
    numbers: set[int] = set()
    with_all = False
    for value in values:
        if str(value).lower() == ALL:
            with_all = True
            continue
        try:
            k = int(str(value))
        except ValueError:
            raise ConfigError("--shots", value, "use positive integers (examples per class) or 'all'.") from None
        if k < 1:
            raise ConfigError("--shots", value, "use positive integers (examples per class) or 'all'.")
        numbers.add(k)
    return [*sorted(numbers), *([ALL] if with_all else [])]


def parse_seeds(values: Sequence[Any]) -> list[int]:
    if not values:
        raise ConfigError("--seeds", list(values), "give at least one seed, e.g. --seeds 0 1 2.")
    try:
        return list(dict.fromkeys(int(str(v)) for v in values))
    except ValueError:
        raise ConfigError("--seeds", list(values), "use integers, e.g. --seeds 0 1 2.") from None


def class_counts(train: Any, names: Sequence[str]) -> dict[str, int]:
    counts = Counter(int(y) for y in train["label"])
    return {name: counts.get(i, 0) for i, name in enumerate(names)}


def check_shots(shots: Sequence[Shot], counts: dict[str, int]) -> None:
    """Every k must fit the smallest class of the training split, or the draw could not be stratified."""
    smallest_name = min(counts, key=counts.get)
    smallest = counts[smallest_name]
    for k in shots:
        if k != ALL and int(k) > smallest:
            raise ConfigError("--shots", k, f"class '{smallest_name}' has only {smallest} training example(s); use at "
                              f"most {smallest} examples per class, or 'all'.")


def sample_per_class(train: Any, k: Shot, seed: int) -> Any:
    """``k`` examples of every class, drawn with ``seed``; nested in ``k`` for a fixed seed (see module docstring)."""
    if k == ALL:
        return train
    labels = np.asarray(train["label"])
    rng = np.random.default_rng(seed)
    picked: list[int] = []
    for label in np.unique(labels):  # the same permutations whatever k is: the draws are nested
        picked.extend(rng.permutation(np.flatnonzero(labels == label))[: int(k)].tolist())
    return train.select(sorted(picked))


def _epochs_for(config: RecipeConfig, n_train: int, min_steps: int) -> Any:
    """The config's epochs, raised so that a small subset still trains for ``min_steps`` optimizer steps."""
    training = config.training
    epochs = training.get("num_train_epochs", TRAINING_DEFAULTS["num_train_epochs"])
    if epochs == "auto":
        if training.get("eval_strategy") != "no":
            return "auto"  # early stopping on each point's validation split, with a budget sized for n_train
        epochs = TRAINING_DEFAULTS["num_train_epochs"]  # nothing to stop on: the kit's fixed default
    epochs = float(epochs)
    if min_steps <= 0 or training.get("max_steps", -1) > 0:
        return epochs
    per_step = training.get("per_device_train_batch_size", 8) * training.get("gradient_accumulation_steps", 1)
    steps_per_epoch = math.ceil(n_train / per_step)
    return max(epochs, math.ceil(min_steps / steps_per_epoch))


def run_config(spec: StrategySpec, names: list[str], seed: int, n_train: int, min_steps: int,
               output_dir: Path) -> RecipeConfig:
    """The recipe config of one point: in-memory splits, this seed, enough epochs for ``min_steps``."""
    return isolated_config(spec.config, names, output_dir, seed=seed,
                           num_train_epochs=_epochs_for(spec.config, n_train, min_steps))


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per strategy and k: mean, standard deviation (over seeds; 0 for one seed), min, max and count."""
    values: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        values.setdefault(run["strategy"], {}).setdefault(str(run["shots"]), []).append(run["accuracy"])
    return {strategy: {shot: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0,
                              "min": min(v), "max": max(v), "n": len(v)} for shot, v in per_shot.items()}
            for strategy, per_shot in values.items()}


@dataclass
class LearningCurve:
    """Everything ``learning_curve.json`` holds; ``table`` and ``plot`` render it."""

    shots: list[Shot]
    strategies: list[str]
    seeds: list[int]
    examples_per_class: dict[str, float]  # the mean per class for each shot ("all": the whole training split)
    class_counts: dict[str, int]
    test_examples: int
    majority_class_accuracy: float
    runs: list[dict[str, Any]]

    @property
    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        return summarize(self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "summary": self.summary}

    def table(self) -> str:
        heads = [f"{s}" if s != ALL else f"all ({self.examples_per_class[ALL]:.0f})" for s in self.shots]
        width = max(16, *(len(s) + 2 for s in self.strategies))
        lines = [f"{'examples/class':{width}s}" + "".join(f"{h:>17s}" for h in heads)]
        summary = self.summary
        for strategy in self.strategies:
            cells = []
            for shot in self.shots:
                cell = summary.get(strategy, {}).get(str(shot))
                cells.append(f"{cell['mean']:.3f} ± {cell['std']:.3f}" if cell else "-")
            lines.append(f"{strategy:{width}s}" + "".join(f"{c:>17s}" for c in cells))
        lines.append(f"(test accuracy, mean ± standard deviation over seeds {self.seeds}; {self.test_examples} test "
                     f"examples; majority class {self.majority_class_accuracy:.3f})")
        return "\n".join(lines)

    def plot(self, path: Path) -> Optional[Path]:
        """Accuracy against examples per class (log scale): mean line, ±1 std band and every seed as a dot."""
        from .plots import new_figure, save_png

        fig = new_figure(7, 4.5, dpi=110)
        if fig is None:
            return None
        ax = fig.add_subplot()
        xs = {str(s): self.examples_per_class[str(s)] for s in self.shots}
        summary = self.summary
        for strategy in self.strategies:
            cells = [(xs[str(s)], summary[strategy][str(s)]) for s in self.shots if str(s) in summary.get(strategy, {})]
            if not cells:
                continue
            x = [c[0] for c in cells]
            mean = np.array([c[1]["mean"] for c in cells])
            std = np.array([c[1]["std"] for c in cells])
            (line,) = ax.plot(x, mean, marker="o", label=strategy)
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
            dots = [(xs[str(r["shots"])], r["accuracy"]) for r in self.runs if r["strategy"] == strategy]
            ax.scatter([d[0] for d in dots], [d[1] for d in dots], s=10, color=line.get_color(), alpha=0.6)
        ax.axhline(self.majority_class_accuracy, color="grey", linestyle="--", linewidth=1, label="majority class")
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(xs.values()))
        ax.set_xticklabels([s if s != ALL else f"all\n({xs[s]:.0f})" for s in xs])
        ax.minorticks_off()
        ax.set_xlabel("labelled training examples per class")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"Learning curve: mean ± 1 std over {len(self.seeds)} seed(s)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        return save_png(fig, path)


def learning_curve(base: RecipeConfig, shots: Sequence[Any], strategies: Sequence[str], seeds: Sequence[Any],
                   out: str | Path, min_steps: int = 0,
                   progress: Callable[[str], None] = print) -> LearningCurve:
    """Train every (k, strategy, seed), write ``learning_curve.json`` / ``.png`` into ``out`` and return the curve.

    Every input is checked before the first run: bad shots, seeds or strategy names, a task other than text
    classification, or a k larger than the smallest class raise ``ConfigError``.
    """
    from .data import prepare_splits

    if base.task != "text-classification":
        raise ConfigError("task", base.task, "learning-curve trains text classifiers; use a text-classification "
                          "recipe (task: text-classification).")
    shot_list, seed_list = parse_shots(shots), parse_seeds(seeds)
    specs = strategy_specs(base, strategies)
    splits, names = prepare_splits(base.data, seed=base.training.get("seed", 42), num_labels=base.model.num_labels)
    counts = class_counts(splits["train"], names)
    check_shots(shot_list, counts)
    out = Path(out)
    test_labels = np.asarray(splits["test"]["label"])
    majority = Counter(int(y) for y in splits["train"]["label"]).most_common(1)[0][0]
    per_class = {str(s): float(s) if s != ALL else len(splits["train"]) / len(names) for s in shot_list}
    curve = LearningCurve(shot_list, [s.label for s in specs], seed_list, per_class, counts, len(test_labels),
                          float(np.mean(test_labels == majority)), [])
    held_out = data_digest(splits["validation"], splits["test"])
    total = len(shot_list) * len(specs) * len(seed_list)
    started = time.perf_counter()
    trained = 0
    for k in shot_list:
        for spec in specs:
            for seed in seed_list:
                index = len(curve.runs) + 1
                train = sample_per_class(splits["train"], k, seed)
                run_dir = out / "runs" / file_label(spec.label)
                config = run_config(spec, names, seed, len(train), min_steps, run_dir / f".k{k}-seed{seed}")
                key = fingerprint(config, k, data_digest(train) + held_out)

                def produce() -> dict[str, Any]:
                    return {"strategy": spec.label, "shots": k, "seed": seed, "train_examples": len(train),
                            **train_point(config, splits, train)}

                record, reused = cached_record(run_dir / f"k{k}-seed{seed}.json", key, produce)
                trained += not reused
                state = "done earlier" if reused else f"{record['train_seconds']:.0f} s"
                curve.runs.append(record)
                elapsed = time.perf_counter() - started
                left = elapsed / trained * (total - index) if trained else 0.0
                progress(f"[learning-curve {index}/{total}] {spec.label} k={k} seed={seed}: test accuracy "
                         f"{record['accuracy']:.3f} ({state}; about {left / 60:.0f} min left)")
                write_json(out / "learning_curve.json", curve.to_dict())
    curve.plot(out / "learning_curve.png")
    return curve

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
  data; a rerun with the same settings and data reuses it, so a killed curve continues where it stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import shutil
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import yaml

from .config import RecipeConfig, load_config
from .config.loader import config_to_dict, validate_training
from .errors import ConfigError

ALL = "all"
Shot = Union[int, str]  # a number of examples per class, or "all"


@dataclass
class StrategySpec:
    """One line of the curve: a label and the full recipe config it trains with."""

    label: str
    config: RecipeConfig


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


def strategy_specs(base: RecipeConfig, entries: Sequence[str]) -> list[StrategySpec]:
    """Each entry is a strategy name (the base config with that strategy; its own settings where the base config
    already uses it) or a recipe YAML whose ``strategy`` and ``training`` sections replace the base config's (so each
    strategy can keep the learning rate it needs: a linear probe wants ~100x that of full fine-tuning)."""
    from .strategies import build_strategy_config

    if not entries:
        raise ConfigError("--strategies", list(entries), "name at least one strategy, e.g. --strategies linear_probe "
                          "lora full (or recipe YAML files such as recipes/configs/nlp/minilm_lora.yaml).")
    specs: list[StrategySpec] = []
    for entry in entries:
        config = copy.deepcopy(base)
        if entry.endswith((".yaml", ".yml")):
            config.strategy = load_config(entry).strategy  # validates the whole file, reports its errors
            # only what the file sets itself: its defaults must not undo the base config's training settings
            raw = yaml.safe_load(Path(entry).read_text()) or {}
            own = {k: v for k, v in (raw.get("training") or {}).items() if k != "seed"}
            config.training = {**base.training, **validate_training(own)}
        elif entry != base.strategy.name:
            config.strategy = build_strategy_config({"name": entry})
        label = config.strategy.name
        if any(s.label == label for s in specs):
            label = Path(entry).stem if entry.endswith((".yaml", ".yml")) else entry
        specs.append(StrategySpec(label, config))
    return specs


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


def _epochs_for(config: RecipeConfig, n_train: int, min_steps: int) -> float:
    """The config's epochs, raised so that a small subset still trains for ``min_steps`` optimizer steps."""
    training = config.training
    epochs = float(training.get("num_train_epochs", 3))
    if min_steps <= 0 or training.get("max_steps", -1) > 0:
        return epochs
    per_step = training.get("per_device_train_batch_size", 8) * training.get("gradient_accumulation_steps", 1)
    steps_per_epoch = math.ceil(n_train / per_step)
    return max(epochs, math.ceil(min_steps / steps_per_epoch))


def run_config(spec: StrategySpec, names: list[str], seed: int, n_train: int, min_steps: int,
               output_dir: Path) -> RecipeConfig:
    """The recipe config of one point: in-memory splits, this seed, no checkpoints, no saved model."""
    config = copy.deepcopy(spec.config)
    config.output_dir, config.overwrite_output_dir = str(output_dir), True
    config.resume, config.baselines = False, False
    config.hub.push_to_hub = False
    config.data = dataclasses.replace(
        config.data, dataset=None, train_file=None, validation_file=None, test_file=None, label_column="label",
        label_names=list(names), train_split="train", validation_split="validation", test_split="test",
        max_train_samples=None, max_eval_samples=None)
    config.training.update(seed=seed, save_strategy="no", report_to="none",
                           num_train_epochs=_epochs_for(config, n_train, min_steps))
    config.training.setdefault("disable_tqdm", True)
    return config


def data_digest(*datasets: Any) -> str:
    """A digest of the examples themselves: a cached run is reused only for the same data, whatever its source."""
    digest = hashlib.sha1()
    for ds in datasets:
        digest.update(ds.to_pandas().to_json(orient="records").encode())
    return digest.hexdigest()


def fingerprint(config: RecipeConfig, k: Shot, data: str) -> str:
    settings = config_to_dict(config)
    settings.pop("output_dir", None)
    return hashlib.sha1(json.dumps([settings, k, data], sort_keys=True, default=str).encode()).hexdigest()[:16]


def train_point(config: RecipeConfig, splits: Any, train: Any) -> dict[str, Any]:
    """Train one strategy on one subset; test metrics, wall time and parameter counts (nothing is saved)."""
    from transformers.trainer_callback import PrinterCallback

    from .outputs import staging_dir
    from .recipes import TextClassificationRecipe

    recipe = TextClassificationRecipe(config, train_dataset=train, eval_dataset=splits["validation"],
                                      test_dataset=splits["test"])
    try:
        recipe.setup()
        recipe.trainer.remove_callback(PrinterCallback)  # one progress line per run instead of every log dict
        start = time.perf_counter()
        recipe.train()
        seconds = time.perf_counter() - start
        test = recipe.evaluate("test")
    finally:
        shutil.rmtree(staging_dir(config.output_dir), ignore_errors=True)
    return {"accuracy": float(test["accuracy"]), "f1": float(test["f1"]), "train_seconds": round(seconds, 2),
            "optimizer_steps": int(recipe.trainer.state.global_step),
            "trainable_parameters": recipe.parameters.trainable, "total_parameters": recipe.parameters.total}


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
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            return None
        fig = Figure(figsize=(7, 4.5), dpi=110)
        FigureCanvasAgg(fig)
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
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
        return path


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
                run_dir = out / "runs" / spec.label
                config = run_config(spec, names, seed, len(train), min_steps, run_dir / f".k{k}-seed{seed}")
                key = fingerprint(config, k, data_digest(train) + held_out)
                record_path = run_dir / f"k{k}-seed{seed}.json"
                record = json.loads(record_path.read_text()) if record_path.is_file() else None
                if record is None or record.get("fingerprint") != key:
                    result = train_point(config, splits, train)
                    trained += 1
                    record = {"strategy": spec.label, "shots": k, "seed": seed, "train_examples": len(train),
                              "fingerprint": key, **result}
                    run_dir.mkdir(parents=True, exist_ok=True)
                    record_path.write_text(json.dumps(record, indent=1))
                    state = f"{result['train_seconds']:.0f} s"
                else:
                    state = "done earlier"
                curve.runs.append(record)
                elapsed = time.perf_counter() - started
                left = elapsed / trained * (total - index) if trained else 0.0
                progress(f"[learning-curve {index}/{total}] {spec.label} k={k} seed={seed}: test accuracy "
                         f"{record['accuracy']:.3f} ({state}; about {left / 60:.0f} min left)")
                (out / "learning_curve.json").write_text(json.dumps(curve.to_dict(), indent=1))
    curve.plot(out / "learning_curve.png")
    return curve

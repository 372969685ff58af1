"""Compare fine-tuning strategies on the same data and budget, against the same architecture trained from scratch.

``compare(base, ["full", "lora", "linear_probe"], out)`` trains every strategy on the **same** seeded splits with
the **same** budget and scores each once on the same test split, then writes ``comparison.json``, ``comparison.md``
(a table) and ``comparison.png`` (test accuracy against trainable parameters and against training time) into
``out`` and suggests one strategy with the reason.

Design choices, and why:
- Same budget: every strategy trains with the base config's epochs / ``max_steps``, batch size and gradient
  accumulation (and seed); a strategy YAML or ``name:lr=...`` keeps its own learning rate, warm-up and
  scheduler, since what suits a linear probe starves full fine-tuning and vice versa. No validation passes during
  training, so the time column is training time only.
- The from-scratch baseline, ``scratch (full)``, is the model's architecture (``AutoConfig`` ->
  ``from_config``) with random weights, trained in full with the settings of the ``full`` entry (or the base
  config's): what the pretrained weights buy on this data. Expect it to be low; it is the control.
- The suggestion: the best test accuracy among the pretrained strategies, unless a strategy with fewer trainable
  parameters is within ``tolerance`` percentage points of it -- then the one with the fewest trainable parameters
  among those (less optimizer memory, a smaller checkpoint; wall time breaks ties). One test split decides it,
  so a tolerance near the split's resolution (1 / test examples) avoids picking by noise.
- Each finished strategy is a record ``runs/<label>.json`` with a fingerprint of its settings and data
  (:mod:`hf_transfer_kit.strategy_runs`, shared with ``learning-curve``): a rerun reuses it, so a killed
  comparison continues with the first unfinished strategy.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .config import RecipeConfig
from .errors import ConfigError
from .strategy_runs import (StrategySpec, cached_record, data_digest, file_label, fingerprint, isolated_config,
                            strategy_specs, train_point, write_json, write_text)

SCRATCH = "scratch (full)"
#: Training arguments that make the budget: taken from the base config for every strategy.
BUDGET_KEYS = ("num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps")


@functools.cache
def scratch_recipe_class() -> type:
    """:class:`TextClassificationRecipe` whose model has the checkpoint's architecture but random weights.

    Built on first use so that importing this module does not import transformers."""
    from .tasks import TextClassificationRecipe

    class FromScratchTextClassificationRecipe(TextClassificationRecipe):
        @classmethod
        def build_model(cls, model_path: str, label_names: list[str], model_config: Any, preprocessor: Any) -> Any:
            from transformers import AutoConfig, AutoModelForSequenceClassification

            config = AutoConfig.from_pretrained(
                model_path, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
                label2id={n: i for i, n in enumerate(label_names)}, revision=model_config.revision,
                trust_remote_code=model_config.trust_remote_code)
            if config.pad_token_id is None:
                config.pad_token_id = preprocessor.pad_token_id
            return AutoModelForSequenceClassification.from_config(config,
                                                                  trust_remote_code=model_config.trust_remote_code)

    return FromScratchTextClassificationRecipe


def _count(n: float) -> str:
    """22715141 -> '22.7 M', 75653 -> '75.7 k'."""
    for size, unit in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


def suggest(rows: Sequence[dict[str, Any]], tolerance_pp: float) -> Optional[dict[str, str]]:
    """``{"label", "reason"}``: the best pretrained strategy, or the cheapest one within ``tolerance_pp`` of it."""
    pretrained = [r for r in rows if r["init"] == "pretrained"]
    if not pretrained:
        return None
    best = max(pretrained, key=lambda r: (r["accuracy"], -r["trainable_parameters"], -r["train_seconds"]))
    gap = {r["label"]: 100 * (best["accuracy"] - r["accuracy"]) for r in pretrained}
    close = [r for r in pretrained if gap[r["label"]] <= tolerance_pp + 1e-9]
    pick = min(close, key=lambda r: (r["trainable_parameters"], r["train_seconds"]))
    acc = lambda r: f"{100 * r['accuracy']:.1f} %"  # noqa: E731
    if pick is not best:
        reason = (f"{pick['label']}: {acc(pick)} test accuracy, within {gap[pick['label']]:.1f} pp of the best, "
                  f"{best['label']} ({acc(best)}), with {_count(pick['trainable_parameters'])} trainable parameters "
                  f"({pick['trainable_percent']:.2g} % of the model) instead of "
                  f"{_count(best['trainable_parameters'])}, and {pick['train_seconds'] / best['train_seconds']:.2g}x "
                  f"its training time.")
    else:
        cheaper = [r for r in pretrained if r["trainable_parameters"] < best["trainable_parameters"]]
        if cheaper:
            runner = max(cheaper, key=lambda r: r["accuracy"])
            reason = (f"{best['label']}: the best test accuracy ({acc(best)}); the best strategy with fewer trainable "
                      f"parameters, {runner['label']} ({acc(runner)}), is {gap[runner['label']]:.1f} pp behind, "
                      f"more than the {tolerance_pp:g} pp tolerance.")
        else:
            reason = f"{best['label']}: the best test accuracy ({acc(best)}) with the fewest trainable parameters."
    scratch = [r for r in rows if r["init"] == "random"]
    if scratch:
        reason += (f" Pretraining buys {100 * (best['accuracy'] - scratch[0]['accuracy']):+.1f} pp over the same "
                   f"architecture trained from scratch ({acc(scratch[0])}).")
    return {"label": pick["label"], "reason": reason}


@dataclass
class Comparison:
    """Everything ``comparison.json`` holds; ``table``, ``markdown`` and ``plot`` render it."""

    model: str
    budget: dict[str, Any]
    data: dict[str, Any]  # split sizes, class names, majority-class test accuracy
    tolerance_pp: float
    rows: list[dict[str, Any]]

    @property
    def suggestion(self) -> Optional[dict[str, str]]:
        return suggest(self.rows, self.tolerance_pp)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "suggestion": self.suggestion}

    def table(self) -> str:
        """A markdown table, one row per strategy in the order given (the suggested one in bold)."""
        picked = (self.suggestion or {}).get("label")
        fastest = min((r["train_seconds"] for r in self.rows), default=1.0) or 1.0
        lines = ["| strategy | test accuracy | macro F1 | trainable | trainable % | learning rate | train time |",
                 "|---|---|---|---|---|---|---|"]
        for r in self.rows:
            label = f"**{r['label']}** (suggested)" if r["label"] == picked else r["label"]
            lines.append(f"| {label} | {r['accuracy']:.4f} | {r['f1']:.4f} | {_count(r['trainable_parameters'])} | "
                         f"{r['trainable_percent']:.3g} | {r['learning_rate']:g} | {r['train_seconds']:.1f} s "
                         f"({r['train_seconds'] / fastest:.1f}x) |")
        return "\n".join(lines)

    def settings(self) -> str:
        budget = ", ".join(f"{k}={v}" for k, v in self.budget.items())
        steps = sorted({r["optimizer_steps"] for r in self.rows})
        return (f"{self.model}; {self.data['train']} training / {self.data['test']} test examples, "
                f"{len(self.data['classes'])} classes (majority class {self.data['majority_class_accuracy']:.3f}); "
                f"same budget for every strategy: {budget} ({'/'.join(map(str, steps))} optimizer steps).")

    def markdown(self) -> str:
        suggestion = self.suggestion
        return "\n\n".join([
            "# Strategy comparison", self.settings(), self.table(),
            f"**Suggested: {suggestion['reason']}**" if suggestion else "No pretrained strategy to suggest.",
            "Train time is wall time of training only (relative to the fastest); test accuracy on one split, so "
            f"differences under ~{100 / max(self.data['test'], 1):.1f} pp are single examples.",
            "![comparison](comparison.png)", ""])

    def plot(self, path: Path) -> Optional[Path]:
        from .plots import strategy_comparison

        return strategy_comparison(self.rows, path, majority=self.data["majority_class_accuracy"],
                                   suggested=(self.suggestion or {}).get("label"))


def compare(base: RecipeConfig, strategies: Sequence[str], out: str | Path, scratch: bool = True,
            tolerance: float = 1.0, progress: Callable[[str], None] = print) -> Comparison:
    """Train every strategy (and the from-scratch baseline), write the outputs into ``out``, return the comparison.

    Every input is checked before the first run: unknown strategy names or settings, a task other than text
    classification, a negative tolerance, or fewer than two arms raise ``ConfigError``.
    """
    from .data import prepare_splits

    if base.task != "text-classification":
        raise ConfigError("task", base.task, "compare trains text classifiers; use a text-classification recipe "
                          "(task: text-classification).")
    if not tolerance >= 0:
        raise ConfigError("--tolerance", tolerance, "use 0 (always the most accurate) or a positive number of "
                          "percentage points, e.g. --tolerance 1.")
    specs = strategy_specs(base, strategies)
    if scratch:
        full = next((s for s in specs if s.config.strategy.name == "full"), None)
        config = copy.deepcopy(full.config if full else base)
        if not full:
            from .strategies import build_strategy_config

            config.strategy = build_strategy_config({"name": "full"})
        specs.append(StrategySpec(SCRATCH, config))
    if len(specs) < 2:
        raise ConfigError("--strategies", list(strategies), "compare needs two arms or more: name a second strategy, "
                          "e.g. --strategies full lora, or drop --no-scratch to keep the from-scratch baseline.")
    budget = {k: base.training[k] for k in BUDGET_KEYS if k in base.training}
    for spec in specs:
        spec.config.training = {k: v for k, v in spec.config.training.items() if k not in BUDGET_KEYS} | budget

    splits, names = prepare_splits(base.data, seed=base.training.get("seed", 42), num_labels=base.model.num_labels)
    majority = Counter(int(y) for y in splits["train"]["label"]).most_common(1)[0][0]
    test_labels = list(splits["test"]["label"])
    data = {"train": len(splits["train"]), "validation": len(splits["validation"]), "test": len(test_labels),
            "classes": names, "majority_class_accuracy": test_labels.count(majority) / max(len(test_labels), 1)}
    comparison = Comparison(base.model.name_or_path, budget, data, float(tolerance), [])
    digest = data_digest(splits["train"], splits["validation"], splits["test"])
    out = Path(out)
    started, trained = time.perf_counter(), 0
    for index, spec in enumerate(specs, 1):
        init = "random" if spec.label == SCRATCH else "pretrained"
        recipe_cls = scratch_recipe_class() if init == "random" else None
        slug = file_label(spec.label)
        config = isolated_config(spec.config, names, out / "runs" / f".{slug}", eval_strategy="no",
                                 load_best_model_at_end=False)

        def produce() -> dict[str, Any]:
            progress(f"[compare {index}/{len(specs)}] {spec.label}: training ...")
            result = train_point(config, splits, splits["train"], recipe_cls)
            return {"label": spec.label, "strategy": config.strategy.name, "init": init,
                    "learning_rate": config.training["learning_rate"],
                    "trainable_percent": 100 * result["trainable_parameters"] / max(result["total_parameters"], 1),
                    **result}

        record, reused = cached_record(out / "runs" / f"{slug}.json", key=fingerprint(config, init, digest),
                                       produce=produce)
        trained += not reused
        comparison.rows.append(record)
        left = (time.perf_counter() - started) / trained * (len(specs) - index) if trained else 0.0
        state = f"reusing {out / 'runs' / slug}.json" if reused else f"trained in {record['train_seconds']:.0f} s"
        progress(f"[compare {index}/{len(specs)}] {spec.label}: test accuracy {record['accuracy']:.4f} ({state}; "
                 f"about {left / 60:.0f} min left)")
        write_json(out / "comparison.json", comparison.to_dict())
    comparison.plot(out / "comparison.png")
    write_text(out / "comparison.md", comparison.markdown())
    return comparison

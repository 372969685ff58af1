"""The "Training recipe" part of a card: what was trained, how, on what, with which software.

Why so much detail: a card should let a newcomer reproduce the run. The saved ``recipe_config.yaml``
is the exact recipe; this module turns it (plus metrics.json and the saved adapter config, which
holds the *resolved* values such as ``target_modules: auto`` -> ``[query, value]``) into tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..hardware import environment
from .run import RunRecord

#: How the card names PEFT methods (PEFT's own type names are upper-case identifiers).
METHOD_NAMES = {"LORA": "LoRA", "IA3": "IA³", "LOHA": "LoHa", "LOKR": "LoKr", "OFT": "OFT", "BOFT": "BOFT",
                "VERA": "VeRA", "ADALORA": "AdaLoRA", "PREFIX_TUNING": "prefix-tuning",
                "PROMPT_TUNING": "prompt-tuning", "P_TUNING": "p-tuning", "BOTTLENECK": "bottleneck"}
# PEFT wrapper names that say nothing to a reader of the card.
_PEFT_PREFIX = "base_model.model."


def method_name(peft_type: str | None) -> str | None:
    return METHOD_NAMES.get(peft_type, peft_type.lower().replace("_", "-")) if peft_type else None


def run_environment(run: RunRecord) -> tuple[dict[str, Any], bool]:
    """(environment, recorded): the one saved at training time when metrics.json has it, else this machine's."""
    saved = run.metrics.get("environment")
    if isinstance(saved, Mapping) and saved.get("versions"):
        return dict(saved), True
    return environment(), False


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def show(value: Any) -> str:
    """A config value as a card cell: lists joined, floats short, None as 'unset'."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, set)):
        items = list(dict.fromkeys(str(v) for v in value))  # PEFT repeats names (modules_to_save)
        return ", ".join(items) if items else "none"
    return str(value)


def strategy_rows(run: RunRecord) -> list[tuple[str, str]]:
    """(setting, value) for the strategy; adapters show the resolved value where the config said 'auto'."""
    configured = _flatten(run.config.strategy.to_dict())
    configured.pop("name", None)
    # PEFT stores target_modules as a set: sort list values so the card is the same on every run.
    resolved = {k: sorted(v) if isinstance(v, list) and all(isinstance(i, str) for i in v) else v
                for k, v in (run.adapter_config or {}).items()}
    rows = []
    for key, value in configured.items():
        leaf = key.rsplit(".", 1)[-1]
        shown = show(value)
        if leaf in resolved and show(resolved[leaf]) != shown:
            shown = f"{shown} → {show(resolved[leaf])}" if value in (None, "auto") else show(resolved[leaf])
        rows.append((leaf, shown))
    if resolved.get("modules_to_save") and not any(k == "modules_to_save" for k, _ in rows):
        rows.append(("modules_to_save", show(resolved["modules_to_save"])))
    return rows


def _readable(name: str) -> str:
    name = name.removeprefix(_PEFT_PREFIX)
    name = name.replace(".modules_to_save", "").replace(".base_layer", " (pretrained weights)")
    return name


def summarize_modules(names: Iterable[str], limit: int = 12) -> list[str]:
    """Collapse per-layer module names into ranges: ``encoder.layer.[0-3].output`` instead of four lines.

    PEFT's frozen copy of a trained head (``*.original_module``) is dropped: it is not used at inference.
    """
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    for raw in names:
        if raw.endswith(".original_module"):
            continue
        name = _readable(raw)
        numbers = re.findall(r"\.(\d+)(?=\.|$| )", name)
        pattern = re.sub(r"\.(\d+)(?=\.|$| )", ".{}", name, count=1) if numbers else name
        if pattern not in groups:
            groups[pattern] = []
            order.append(pattern)
        if numbers:
            groups[pattern].append(int(numbers[0]))
    lines = [p.replace("{}", _ranges(groups[p]), 1) if "{}" in p else p for p in order]
    if len(lines) > limit:
        lines = lines[:limit] + [f"… and {len(lines) - limit} more (see metrics.json)"]
    return lines


def _ranges(numbers: list[int]) -> str:
    values = sorted(set(numbers))
    spans: list[str] = []
    start = prev = values[0]
    for value in values[1:] + [None]:  # type: ignore[list-item]
        if value is not None and value == prev + 1:
            prev = value
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return "[" + ",".join(spans) + "]"


def parameter_facts(run: RunRecord) -> dict[str, Any]:
    """Trainable / total counts and the (collapsed) trainable and frozen modules from metrics.json."""
    params = run.metrics.get("parameters") or {}
    trainable, total = int(params.get("trainable", 0)), int(params.get("total", 0))
    percent = float(params.get("percent", 100.0 * trainable / total if total else 0.0))
    return {"trainable": f"{trainable:,}", "total": f"{total:,}", "percent": f"{percent:.4g}",
            "trainable_modules": summarize_modules(params.get("trainable_modules") or []),
            "frozen_modules": summarize_modules(params.get("frozen_modules") or [])}


def hyperparameter_rows(run: RunRecord) -> list[tuple[str, str]]:
    """Every ``training`` field the run set (ours and the user's), then the steps and epochs actually run."""
    rows = [(key, show(value)) for key, value in run.config.training.items()]
    steps = [e["step"] for e in run.log_history if "step" in e]
    if steps:
        rows.append(("optimizer steps run", str(max(steps))))
    train = run.metrics.get("train") or {}
    epoch = train.get("epoch")
    if isinstance(epoch, (int, float)):
        rows.append(("epochs run", f"{epoch:.3g}"))
    stop = train.get("stopping") or {}
    if stop.get("auto"):
        rows.append(("epoch budget (num_train_epochs: auto)", show(stop.get("budget_epochs"))))
    if stop.get("stopped"):
        rows.append(("why training stopped", stop["stopped"]))
    if stop.get("lr_reductions"):
        rows.append(("learning rate on plateaus", f"multiplied by {stop['lr_plateau_factor']:g} after each of the "
                     f"{stop['lr_reductions']} evaluations that did not improve"))
    if stop.get("best_step"):
        rows.append(("checkpoint kept", f"the best on validation {stop.get('best_metric')} "
                     f"({show(stop.get('best_value'))}), step {stop['best_step']} (epoch {stop.get('best_epoch')})"))
    if train.get("learning_rate_finder"):
        found = train["learning_rate_finder"]
        rows.append(("learning rate (learning_rate: auto)", f"{found['learning_rate']:.3g}: " + (
            f"the strategy's fallback, as {found['why']}" if found.get("fallback") else found["why"])
            + f" (range test: {found['steps']} steps, {found['seconds']:.1f} s, "
              f"{100 * found['share_of_run']:.1f} % of training)"))
    if train.get("frozen_blocks_in_eval"):
        rows.append(("frozen blocks", f"{train['frozen_blocks_in_eval']} ran in eval mode (no dropout, batch-norm "
                     "statistics kept): strategy.frozen_blocks=eval"))
    if train.get("batch_norm"):
        bn = train["batch_norm"]
        rows.append(("batch-norm statistics", f"recomputed after training for {bn['recomputed']} batch norms over "
                     f"{bn['batches']} training batches"))
    return rows


def seeds(run: RunRecord) -> str:
    training = run.config.training
    seed = training.get("seed", 42)
    text = f"`seed={seed}` (data splits, new head initialisation, training order)"
    if training.get("data_seed") is not None:
        text += f", `data_seed={training['data_seed']}` (data sampling)"
    return text


def training_time(run: RunRecord) -> str:
    train = run.metrics.get("train") or {}
    wall = train.get("wall_seconds", train.get("train_runtime"))
    return f"{float(wall):.1f} s" if isinstance(wall, (int, float)) else "not recorded"

"""Train one strategy on fixed in-memory splits, and keep its result: the machinery `learning-curve` and `compare` share.

Both commands train several strategies on the *same* splits and score them on the *same* test split, so each run is
a recipe config with the data swapped for in-memory splits and nothing saved but a JSON record. The record holds a
fingerprint of the run's settings and of the examples themselves; a rerun whose fingerprint matches reuses it, so a
killed comparison or curve continues with the first unfinished run instead of starting over. Records are written
atomically (a temporary file renamed into place), so a kill during the write leaves the old record or none.

Strategy entries on the command line:
- a strategy name (``lora``), or a PEFT method name (``ia3``, ``loha``: ``strategy.name=peft`` with that method);
- ``name:key=value,...`` -- the strategy with its own settings (``lora:r=16,lora_alpha=32``); ``lr=`` and
  ``training.<field>=`` set that strategy's training arguments (``linear_probe:lr=5e-2``);
- a recipe YAML whose ``strategy`` and ``training`` sections replace the base config's (each strategy keeps the
  learning rate it needs: a linear probe wants ~100x that of full fine-tuning).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from .config import RecipeConfig, load_config
from .config.loader import config_to_dict, parse_value
from .config.training import validate_training
from .errors import ConfigError

#: ``name:key=value`` keys that set training arguments rather than strategy fields.
TRAINING_SHORTHANDS = {"lr": "learning_rate"}
_OPTION_SPLIT = re.compile(r",(?![^\[]*\])")  # commas outside [...] separate options: target_modules=[query,value]


@dataclass
class StrategySpec:
    """One arm of a comparison or curve: a label and the full recipe config it trains with."""

    label: str
    config: RecipeConfig


def _is_peft_method(name: str) -> bool:
    from peft import PEFT_TYPE_TO_CONFIG_MAPPING

    return name.upper().replace("-", "_") in PEFT_TYPE_TO_CONFIG_MAPPING


def parse_entry(entry: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``"lora:r=16,lr=5e-3"`` -> (strategy section ``{"name": "lora", "r": 16}``, training ``{"learning_rate": 5e-3}``).

    A name that is not a registered strategy but a PEFT method becomes ``{"name": "peft", "method": name}``.
    """
    from .strategies import STRATEGIES

    name, _, rest = entry.partition(":")
    name = name.strip()
    strategy: dict[str, Any] = {"name": name}
    if name not in STRATEGIES and name and _is_peft_method(name):
        strategy = {"name": "peft", "method": name}
    training: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in _OPTION_SPLIT.split(rest))):
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--strategies", entry, f"write a strategy's settings as name:key=value,key=value, e.g. "
                              f"lora:r=16,lr=5e-3 ('{item}' has no '=').")
        key = key.strip()
        if key in TRAINING_SHORTHANDS or key.startswith("training."):
            training[TRAINING_SHORTHANDS.get(key, key.removeprefix("training."))] = parse_value(text.strip())
        else:
            strategy[key] = parse_value(text.strip())
    return strategy, validate_training(training)


def strategy_specs(base: RecipeConfig, entries: Sequence[str]) -> list[StrategySpec]:
    """One spec per entry (see the module docstring for the forms). A bare name the base config already uses keeps
    the base config's settings for it. Labels are the strategy (or PEFT method) name; an entry with its own strategy
    settings, or a second entry of the same strategy, is labelled by its text (a YAML by its file name)."""
    from .strategies import build_strategy_config

    if not entries:
        raise ConfigError("--strategies", list(entries), "name at least one strategy, e.g. --strategies linear_probe "
                          "lora full (or recipe YAML files such as recipes/configs/nlp/minilm_lora.yaml).")
    specs: list[StrategySpec] = []
    for entry in entries:
        config = copy.deepcopy(base)
        own_settings = False
        if entry.endswith((".yaml", ".yml")):
            config.strategy = load_config(entry).strategy  # validates the whole file, reports its errors
            # only what the file sets itself: its defaults must not undo the base config's training settings
            raw = yaml.safe_load(Path(entry).read_text()) or {}
            own = {k: v for k, v in (raw.get("training") or {}).items() if k != "seed"}
            config.training = {**base.training, **validate_training(own)}
        else:
            strategy, training = parse_entry(entry)
            own_settings = bool(set(strategy) - {"name", "method"})
            if own_settings or strategy != {"name": base.strategy.name}:
                config.strategy = build_strategy_config(strategy)
            config.training = {**base.training, **training}
        label = config.strategy.method if config.strategy.name == "peft" else config.strategy.name
        if own_settings or any(s.label == label for s in specs):
            label = Path(entry).stem if entry.endswith((".yaml", ".yml")) else entry
        specs.append(StrategySpec(label, config))
    return specs


def isolated_config(config: RecipeConfig, names: list[str], output_dir: Path, **training: Any) -> RecipeConfig:
    """``config`` for one run on in-memory splits: no checkpoints, no saved model, no baselines, no push; ``training``
    entries (the seed, the budget) replace the config's."""
    config = copy.deepcopy(config)
    config.output_dir, config.overwrite_output_dir = str(output_dir), True
    config.resume, config.baselines = False, False
    config.hub.push_to_hub = False
    config.data = dataclasses.replace(
        config.data, dataset=None, train_file=None, validation_file=None, test_file=None, label_column="label",
        label_names=list(names), train_split="train", validation_split="validation", test_split="test",
        max_train_samples=None, max_eval_samples=None)
    config.training.update(save_strategy="no", report_to="none", **training)
    config.training.setdefault("disable_tqdm", True)
    return config


def data_digest(*datasets: Any) -> str:
    """A digest of the examples themselves: a cached run is reused only for the same data, whatever its source."""
    digest = hashlib.sha1()
    for ds in datasets:
        digest.update(ds.to_pandas().to_json(orient="records").encode())
    return digest.hexdigest()


def fingerprint(config: RecipeConfig, *parts: Any) -> str:
    """Settings (less the output directory) plus whatever else defines the run (shots, data digest, init)."""
    settings = config_to_dict(config)
    settings.pop("output_dir", None)
    return hashlib.sha1(json.dumps([settings, *parts], sort_keys=True, default=str).encode()).hexdigest()[:16]


def train_point(config: RecipeConfig, splits: Any, train: Any, recipe_cls: Optional[type] = None) -> dict[str, Any]:
    """Train one strategy on ``train``; test metrics, wall time and parameter counts (nothing is saved).

    ``recipe_cls`` defaults to :class:`TextClassificationRecipe` (``compare`` passes a from-scratch variant)."""
    from transformers.trainer_callback import PrinterCallback

    from .outputs import staging_dir
    from .tasks import TextClassificationRecipe

    recipe = (recipe_cls or TextClassificationRecipe)(config, train_dataset=train, eval_dataset=splits["validation"],
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
            "test_samples_per_second": float(test.get("samples_per_second", 0.0)),
            "optimizer_steps": int(recipe.trainer.state.global_step),
            "trainable_parameters": recipe.parameters.trainable, "total_parameters": recipe.parameters.total}


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically: a temporary sibling renamed over ``path`` (a kill leaves the old file or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=1))


def cached_record(path: Path, key: str, produce: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """The record at ``path`` when its fingerprint is ``key``; otherwise ``produce()``'s, stored there with ``key``.

    Returns (record, reused). An unreadable record (another version, a foreign file) counts as missing."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = None
    if isinstance(record, dict) and record.get("fingerprint") == key:
        return record, True
    record = {**produce(), "fingerprint": key}
    write_json(path, record)
    return record, False


def file_label(label: str) -> str:
    """A label as a file name: ``scratch (full)`` -> ``scratch_full``, ``lora:r=16`` -> ``lora_r=16``."""
    return re.sub(r"[^\w.=+-]+", "_", label).strip("_") or "run"

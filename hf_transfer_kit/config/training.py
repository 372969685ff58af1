"""The ``training`` section: any ``transformers.TrainingArguments`` field, checked at parse time (names, types,
ranges, installed trackers) so a bad setting fails before the Trainer first uses it, with the kit's defaults."""

from __future__ import annotations

import dataclasses
import enum
import os
import typing
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, closest

# Our defaults on top of TrainingArguments' own; any TrainingArguments field may be set in `training`.
TRAINING_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 3,
    "learning_rate": 5e-5,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 64,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",  # a checkpoint per epoch makes every run resumable (--resume)
    "save_total_limit": 1,
    "logging_steps": 10,
    "report_to": "none",
    "seed": 42,
    "bf16": "auto",
}

#: The kit's own fields of the ``training`` section (read by ``stopping.py``, never passed to TrainingArguments),
#: with their help text for ``--help``.
KIT_TRAINING_FIELDS: dict[str, tuple[Any, str]] = {
    "early_stopping_patience": (None, "Stop after this many evaluations without improvement of the task's main "
                                "validation metric, and restore the best checkpoint. null = off (3 with "
                                "num_train_epochs: auto)."),
    "early_stopping_threshold": (0.0, "How much the main validation metric must improve to count as better."),
    "lr_plateau_factor": (None, "Multiply the learning rate by this after each validation evaluation that does not "
                          "improve (with early stopping), e.g. 0.5. null or 1 = off."),
    "recompute_batch_norm": (True, "After training, recompute the running statistics of every batch norm that "
                             "trained, over up to 200 training batches (batchnorm.py); false keeps them as trained."),
}
#: Fields that also take ``auto``: the epochs once the training split is known (``stopping.py``), the learning rate
#: by a range test before training (``lr_find.py``).
AUTO_FIELDS = ("num_train_epochs", "learning_rate")

#: TrainingArguments' own Hub fields. The kit publishes through ``hub`` (one push of the finished, atomic
#: output; the token only from HF_TOKEN / ``hf auth login``): a token in the config would be saved into
#: recipe_config.yaml, and Trainer's own push would upload from the staging directory mid-run.
_HUB_TRAINING_FIELDS = {"push_to_hub": "hub.push_to_hub", "hub_model_id": "hub.repo_id",
                        "hub_private_repo": "hub.private", "hub_strategy": None, "hub_always_push": None,
                        "hub_revision": None, "hub_token": None}
#: Fields whose value must be >= 1 (the Trainer only finds out when it builds a DataLoader, mid-``train()``).
_AT_LEAST_ONE = ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps")


def _hub_field_error(key: str, value: Any) -> ConfigError:
    target = _HUB_TRAINING_FIELDS[key]
    if key == "hub_token":
        fix = ("tokens are never read from the recipe config (it is saved with the run); remove it and set the "
               "HF_TOKEN environment variable or run `hf auth login`.")
    elif target:
        fix = f"the kit pushes the finished run itself; remove it and set {target} instead."
    else:
        fix = "the kit pushes the finished run itself (hub.push_to_hub, hub.repo_id); remove this Trainer setting."
    return ConfigError(f"training.{key}", value, fix)


def _check_training_type(key: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against the TrainingArguments field type; TrainingArguments itself accepts a batch size of
    "eight" or ``bf16: maybe`` and fails (or silently trains) much later, so the kit checks here, at parse time."""
    param = f"training.{key}"
    members = [a for a in (typing.get_args(hint) or (hint,)) if a is not type(None)]
    if value is None and len(members) < len(typing.get_args(hint) or (hint,)):
        return value  # Optional field set to null
    enums = [m for m in members if isinstance(m, type) and issubclass(m, enum.Enum)]
    if enums:
        choices = [str(e.value) for e in enums[0]]
        if isinstance(value, enum.Enum) or value in choices:
            return value
        raise ConfigError(param, value, f"use one of {', '.join(choices)}.{closest(str(value), choices)}")
    if members == [bool]:
        if isinstance(value, bool) or (key == "bf16" and value == "auto"):
            return value
        raise ConfigError(param, value, "use true or false" + (" (or auto)." if key == "bf16" else "."))
    if members == [int]:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(param, value, "use a whole number.")
    elif members == [float]:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError as err:
                raise ConfigError(param, value, "use a number, e.g. 3e-4.") from err
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(param, value, "use a number, e.g. 3e-4.")
    if key in _AT_LEAST_ONE and value < 1:
        raise ConfigError(param, value, "use a positive whole number, e.g. 8.")
    if key == "max_steps" and value == 0:
        raise ConfigError(param, value, "0 steps trains nothing (Trainer would still take one); use a positive step "
                          "count, or -1 (the default) to train for training.num_train_epochs.")
    if key == "learning_rate" and not value > 0:
        raise ConfigError(param, value, "use a positive learning rate, e.g. 5e-5 (full) or 3e-4 (LoRA, adapters).")
    return value


def _check_report_to(value: Any) -> None:
    """Experiment trackers must be installed: Trainer raises only when it builds its callbacks."""
    from transformers.integrations import get_available_reporting_integrations

    names = _tracker_names(value)
    available = get_available_reporting_integrations()
    for name in names:
        if name not in ("none", "all") and name not in available:
            raise ConfigError("training.report_to", value, f"'{name}' is not installed here; install it (pip install "
                              f"{name}) or set training.report_to=none.")


def _tracker_names(report_to: Any) -> list[str]:
    """A ``training.report_to`` value (a name, a list, ``all`` or ``none``) as a list of names."""
    return [report_to] if isinstance(report_to, str) else list(report_to or [])


def reports_to(report_to: Any, tracker: str) -> bool:
    """Whether a ``training.report_to`` value (a name, a list, ``all`` or ``none``) selects ``tracker``."""
    from transformers.integrations import get_available_reporting_integrations

    names = _tracker_names(report_to)
    return tracker in names or ("all" in names and tracker in get_available_reporting_integrations())


def _check_trackers_offline(training: Mapping[str, Any]) -> None:
    """With HF_HUB_OFFLINE=1, trackio cannot create or reach a Space (it would warn and fall back mid-run): refuse a
    Space now. Without one, trackio and TensorBoard only write local files (``tracking.py``)."""
    from huggingface_hub import constants

    if not constants.HF_HUB_OFFLINE or not reports_to(training.get("report_to", TRAINING_DEFAULTS["report_to"]),
                                                      "trackio"):
        return
    fix = ("trackio logs to a Hugging Face Space over the network, and HF_HUB_OFFLINE=1 is set; {remove} to keep the "
           "runs in trackio's local store (trackio show --project ...), or unset HF_HUB_OFFLINE.")
    if training.get("trackio_space_id"):
        raise ConfigError("training.trackio_space_id", training["trackio_space_id"],
                          fix.format(remove="remove training.trackio_space_id"))
    if os.environ.get("TRACKIO_SPACE_ID"):
        raise ConfigError("TRACKIO_SPACE_ID", os.environ["TRACKIO_SPACE_ID"],
                          fix.format(remove="unset the TRACKIO_SPACE_ID environment variable"))


def _check_kit_field(key: str, value: Any) -> Any:
    param = f"training.{key}"
    if key == "recompute_batch_norm":
        if not isinstance(value, bool):
            raise ConfigError(param, value, "use true or false.")
        return value
    if key == "early_stopping_patience":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(param, value, "use a positive whole number of evaluations, e.g. 3, or null (off).")
        return value
    if key == "lr_plateau_factor":
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or
                                  not 0 < value <= 1):
            raise ConfigError(param, value, "use a factor in (0, 1], e.g. 0.5, or null (off).")
        return value
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(param, value, "use a number >= 0, e.g. 0.001.") from err
    if isinstance(value, bool) or not number >= 0:
        raise ConfigError(param, value, "use a number >= 0, e.g. 0.001.")
    return number


def validate_training(training: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``training`` keys, types and ranges against TrainingArguments' fields (numbers given as strings are
    coerced), so a bad setting fails at parse time rather than when the Trainer first uses it."""
    from transformers import TrainingArguments

    fields = {f.name: f for f in dataclasses.fields(TrainingArguments) if f.init}
    hints = typing.get_type_hints(TrainingArguments)
    out: dict[str, Any] = {}
    for key, value in training.items():
        if key in KIT_TRAINING_FIELDS:
            out[key] = _check_kit_field(key, value)
            continue
        if key in AUTO_FIELDS and value == "auto":
            out[key] = value
            continue
        if key == "output_dir":
            raise ConfigError("training.output_dir", value, "set the top-level output_dir instead.")
        if key not in fields:
            raise ConfigError(
                f"training.{key}", value,
                f"not a transformers.TrainingArguments field.{closest(key, [*fields, *KIT_TRAINING_FIELDS])} Check the name against "
                "`hf-transfer-kit train --help` or the TrainingArguments documentation.",
            )
        if key in _HUB_TRAINING_FIELDS:
            raise _hub_field_error(key, value)
        default = fields[key].default
        if value is False and isinstance(default, (str, enum.Enum)):
            value = "no"  # YAML 1.1 reads `eval_strategy: no` as false; these fields mean the string "no"
        out[key] = _check_training_type(key, value, hints.get(key, Any))
        if key == "report_to":
            _check_report_to(value)
    _check_trackers_offline(out)
    return out

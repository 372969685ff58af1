"""Resuming means continuing the same run: the interrupted run's settings are recorded next to its checkpoints, and
a resume with other settings is refused with the differing keys named.

Why refuse rather than warn: the checkpoint restores the optimizer and scheduler state, so a changed learning rate,
warmup or optimizer is silently ignored while ``recipe_config.yaml`` would record the new value, and a changed model,
strategy or data section no longer fits the saved tensors or the data position. What does take effect on resume
(:data:`EFFECTIVE_ON_RESUME`) may change with ``resume_allow_changes``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import RecipeConfig, config_to_dict
from .errors import ConfigError

RECORD = ".hf_transfer_kit_settings.json"
#: Settings that do not shape the run's tensors, data or optimizer state.
IGNORED = {"resume", "resume_allow_changes", "overwrite_output_dir", "output_dir", "hub", "baselines"}
#: ``training`` keys the Trainer honours when resuming (the length of the run, its cadence, evaluation batches).
EFFECTIVE_ON_RESUME = {"num_train_epochs", "max_steps", "logging_steps", "logging_strategy", "eval_steps",
                       "eval_strategy", "save_steps", "save_strategy", "save_total_limit", "per_device_eval_batch_size",
                       "report_to", "project", "run_name", "disable_tqdm", "dataloader_num_workers",
                       "logging_first_step"}


def settings(config: RecipeConfig) -> dict[str, Any]:
    """The settings that define a run, flattened to dotted keys."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}{key}.", item)
        else:
            flat[prefix.rstrip(".")] = value

    walk("", {k: v for k, v in config_to_dict(config).items() if k not in IGNORED})
    return json.loads(json.dumps(flat, default=str))


def record(config: RecipeConfig, staging: Path) -> None:
    """Write the run's settings beside its checkpoints (a resume with allowed changes records the new ones)."""
    (staging / RECORD).write_text(json.dumps(settings(config), indent=1, sort_keys=True))


def check(config: RecipeConfig, staging: Path) -> None:
    """Refuse a resume whose settings differ from the interrupted run's (checkpoints from before the record: no check)."""
    path = staging / RECORD
    if not path.is_file():
        return
    before, now = json.loads(path.read_text()), settings(config)
    changed = sorted(k for k in before.keys() | now.keys() if before.get(k, "<unset>") != now.get(k, "<unset>"))
    if not changed:
        return
    fixed = [k for k in changed if k.removeprefix("training.") not in EFFECTIVE_ON_RESUME or not k.startswith("training.")]
    shown = "; ".join(f"{k}: {before.get(k, '<unset>')!r} -> {now.get(k, '<unset>')!r}" for k in changed[:8])
    if fixed:
        raise ConfigError("resume", True, f"the settings differ from the interrupted run's ({shown}); "
                          f"{', '.join(fixed[:8])} cannot change on resume (the checkpoint's weights, optimizer and "
                          "data position were made with the old values). Resume with the same settings, or train "
                          "anew without --resume.")
    if not config.resume_allow_changes:
        raise ConfigError("resume", True, f"the settings differ from the interrupted run's ({shown}); resume with "
                          "the same settings, or pass --resume-allow-changes (resume_allow_changes=true) to "
                          "continue with these.")

"""Everything a card says about a run, read from the files the run saved.

Why from files (not from the live Trainer): ``hf-transfer-kit card OUTPUT_DIR`` must regenerate the
same card long after training, on another machine, so the output directory is the single source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..config import CONFIG_FILENAME, RecipeConfig, load_config
from ..errors import ConfigError
from ..registry import get_task

METRICS_FILE = "metrics.json"
LOG_HISTORY_FILE = "log_history.json"
ADAPTER_CONFIG_FILE = "adapter_config.json"
#: Images go in a sub-folder so a repo listing keeps weights and configs at the top.
IMAGES_DIR = "images"


@dataclass
class RunRecord:
    """A saved run: resolved config, metrics.json, log history and (for adapters) the PEFT config."""

    directory: Path
    config: RecipeConfig
    metrics: dict[str, Any]
    log_history: list[dict[str, Any]] = field(default_factory=list)
    adapter_config: Optional[dict[str, Any]] = None

    @property
    def is_adapter(self) -> bool:
        return self.adapter_config is not None

    @property
    def test(self) -> dict[str, Any]:
        return dict(self.metrics.get("test") or {})

    @property
    def label_names(self) -> list[str]:
        return list(self.test.get("label_names") or self.config.data.label_names or [])

    @property
    def task_class(self) -> Any:
        """The run's task (registered under the config's ``task``): the card asks it for template, metrics, usage."""
        return get_task(self.config.task)

    @property
    def task(self) -> str:
        """The pipeline task of the saved model: the config's task, except for tasks whose output serves another
        (a distilled student, ``task: distill``, is a text classifier)."""
        return self.task_class.output_task()

    @property
    def peft_method(self) -> Optional[str]:
        """PEFT type as saved (``LORA``, ``IA3``, ``BOTTLENECK``...), None for full models."""
        return str(self.adapter_config.get("peft_type")) if self.adapter_config else None

    @classmethod
    def load(cls, directory: str | Path, config: Optional[RecipeConfig] = None,
             metrics: Optional[dict[str, Any]] = None,
             log_history: Optional[list[dict[str, Any]]] = None,
             adapter_config: Optional[dict[str, Any]] = None) -> RunRecord:
        """Read a run from ``directory``; values passed in (from a recipe mid-save, or the adapter config of
        a merged push, whose directory no longer holds it) take precedence."""
        out = Path(directory)
        if config is None:
            if not (out / CONFIG_FILENAME).is_file():
                raise ConfigError("output_dir", str(out), f"has no {CONFIG_FILENAME}; point at a directory written by "
                                  "`hf-transfer-kit train`.")
            config = load_config(out / CONFIG_FILENAME)
        if metrics is None:
            if not (out / METRICS_FILE).is_file():
                raise ConfigError("output_dir", str(out), f"has no {METRICS_FILE}, so it is not a finished run (a card "
                                  "reports the run's scores); point at the output directory of `hf-transfer-kit "
                                  "train`, or finish the run first.")
            metrics = _read_json(out / METRICS_FILE, {})
        if log_history is None:
            log_history = _read_json(out / LOG_HISTORY_FILE, [])
        adapter = adapter_config if adapter_config is not None else _read_json(out / ADAPTER_CONFIG_FILE, None)
        return cls(out, config, dict(metrics), list(log_history), adapter)


def _read_json(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConfigError(path.name, str(path), f"is not valid JSON ({err}); rerun training to rewrite it.") from err

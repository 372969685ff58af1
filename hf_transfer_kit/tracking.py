"""Experiment tracking (``training.report_to: tensorboard`` / ``trackio``): transformers' own integrations, pointed
at the run and told what the kit knows, offline.

* **Where**: TensorBoard writes into ``<output_dir>/runs/`` (into the staging directory while the run trains, so the
  logs are committed with the run, kept with a checkpoint to resume, dropped with a failed run that left none;
  ``TENSORBOARD_LOGGING_DIR`` still wins). Trackio keeps its usual local store, one SQLite database per project
  under ``TRACKIO_DIR`` (default ``~/.cache/huggingface/trackio``), so one dashboard shows every run of a project;
  nothing goes to the Hub unless ``training.trackio_space_id`` says so (refused with ``HF_HUB_OFFLINE=1``,
  ``config/training.py``).
* **Names** (:func:`names`): the trackio project is ``training.project``, else the output directory's name; the
  run is ``training.run_name``, else ``<strategy>-<start time>`` (a rerun or ``--resume`` is a new run of the
  project).
* **What**: the integrations log the Trainer's scalars and arguments; :class:`Trackers` adds the kit's run
  metadata (task, model, strategy and its settings, trainable / total parameters and share) as trackio run config
  and TensorBoard hparams + text, and :func:`finish` logs the test metrics once, as ``test/<metric>``.
* **Console**: trackio's banner is replaced by one line saying where the runs are and how to open the dashboard.

Why a wrapper callback rather than the integrations alone: both are set up by their first event, which must
carry the kit's metadata (trackio keeps the config of a run's latest session only), and the test evaluation runs
after the Trainer closed them; :class:`Trackers` owns them, sets them up with the metadata whenever they (re)open,
and forwards the events they use.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from transformers import TrainerCallback
from transformers.integrations import TensorBoardCallback, TrackioCallback

from .config.training import reports_to
from .errors import ConfigError

#: The integrations the kit sets up itself (any other ``report_to`` tracker runs as transformers sets it up).
TRACKERS = (TensorBoardCallback, TrackioCallback)
#: Prefix of the kit's keys in the trackers' config / hparams.
PREFIX = "hf_transfer_kit/"


def names(kwargs: Mapping[str, Any], output_dir: str | os.PathLike, strategy: str) -> dict[str, Any]:
    """``kwargs`` (TrainingArguments) with the trackers' project and run name filled in unless set: the project is the
    output directory's name, the run ``<strategy>-<start time>``. A project trackio refuses fails here, before any
    data or model is loaded."""
    out = dict(kwargs)
    given = "project" in out
    out.setdefault("project", Path(output_dir).resolve().name)
    out.setdefault("run_name", f"{strategy}-{time.strftime('%Y%m%d-%H%M%S')}")
    if reports_to(out.get("report_to"), "trackio"):
        from trackio.sqlite_storage import SQLiteStorage

        try:
            SQLiteStorage.validate_project_name(out["project"])
        except ValueError as err:
            raise ConfigError("training.project", out["project"], f"trackio refuses it as a project name ({err}); "
                              "set training.project to another name" + ("." if given else
                              " (it defaults to the output directory's name).")) from err
    return out


def run_metadata(config: Any, parameters: Any) -> dict[str, Any]:
    """What the kit knows about the run, as flat tracker config: task, model, strategy and its settings (``lora``'s
    options as ``strategy.options.r``...), trainable and total parameters and the trainable share in percent."""
    settings: dict[str, Any] = {}

    def flatten(prefix: str, values: Mapping[str, Any]) -> None:
        for key, value in sorted(values.items()):
            if isinstance(value, Mapping):
                flatten(f"{prefix}{key}.", value)
            elif value is not None:
                settings[f"{prefix}{key}"] = value if isinstance(value, (bool, int, float, str)) else str(value)

    flatten(f"{PREFIX}strategy.", {k: v for k, v in vars(config.strategy).items() if k != "name"})
    return {f"{PREFIX}task": config.task, f"{PREFIX}model": config.model.name_or_path,
            f"{PREFIX}strategy": config.strategy.name, **settings,
            f"{PREFIX}trainable_params": parameters.trainable, f"{PREFIX}total_params": parameters.total,
            f"{PREFIX}trainable_percent": round(parameters.percent, 4)}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Trackio prints a banner on set-up and finish (project, store, psutil, "uploading"): the kit prints one line."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class Trackers(TrainerCallback):
    """The run's TensorBoard / trackio callbacks, owned here: set up with the kit's metadata on their first event
    (and again when a closed one reopens for the test metrics), fed the events they use."""

    def __init__(self, trackers: Sequence[Any], metadata: Mapping[str, Any], metric_names: Sequence[str],
                 output_dir: str | os.PathLike, logging_dir: str | os.PathLike) -> None:
        self.trackers = list(trackers)
        self.metadata = dict(metadata)
        self.metric_names = list(metric_names)
        self.output_dir = Path(output_dir)
        self.open = False
        self.announced = False
        self.described_tensorboard = False
        self.logged: set[str] = set()
        for tracker in self.trackers:
            if isinstance(tracker, TensorBoardCallback) and tracker.logging_dir is None:
                tracker.logging_dir = str(logging_dir)  # else TENSORBOARD_LOGGING_DIR, which the integration read

    def _ensure_open(self, args: Any, state: Any, model: Any) -> None:
        if self.open:
            return
        self.open = True
        for tracker in self.trackers:
            if isinstance(tracker, TrackioCallback):
                with _quiet():
                    tracker.setup(args, state, model)
                if state.is_world_process_zero:
                    import trackio

                    trackio.config.update({**self.metadata, f"{PREFIX}output_dir": str(self.output_dir)})
        if state.is_world_process_zero and not self.announced:
            self.announced = True
            for line in self._dashboard_lines(args):
                print(f"[hf_transfer_kit] {line}", flush=True)

    def _dashboard_lines(self, args: Any) -> list[str]:
        lines = []
        for tracker in self.trackers:
            if isinstance(tracker, TensorBoardCallback):
                logs = Path(tracker.logging_dir)
                final = self.output_dir / logs.relative_to(args.output_dir) if logs.is_relative_to(args.output_dir) \
                    else logs
                staged = f" (in {logs} until the run finishes)" if final != logs else ""
                lines.append(f"tensorboard: logs in {final}{staged}; dashboard: tensorboard --logdir {final}")
            elif isinstance(tracker, TrackioCallback):
                from trackio.utils import TRACKIO_DIR

                lines.append(f"trackio: run {args.run_name} of project {args.project}, stored in {TRACKIO_DIR}; "
                             f"dashboard: trackio show --project \"{args.project}\"")
        return lines

    def _describe_tensorboard(self, state: Any) -> None:
        """The kit's metadata in the run's event files: a text table and the HParams dashboard's session (its metric
        columns are the task's test metrics, logged by :func:`finish`)."""
        if self.described_tensorboard or not state.is_world_process_zero:
            return
        for tracker in self.trackers:
            if isinstance(tracker, TensorBoardCallback) and tracker.tb_writer is not None:
                from torch.utils.tensorboard.summary import hparams

                rows = [f"| {key.removeprefix(PREFIX)} | {value} |" for key, value in self.metadata.items()]
                table = "\n".join(["| setting | value |", "|---|---|", *rows])
                tracker.tb_writer.add_text("hf_transfer_kit", table, state.global_step)
                for summary in hparams(self.metadata, {f"test/{name}": 0.0 for name in self.metric_names}):
                    tracker.tb_writer.file_writer.add_summary(summary)
                tracker.tb_writer.flush()
                self.described_tensorboard = True

    def _forward(self, event: str, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._ensure_open(args, state, kwargs.get("model"))
        for tracker in self.trackers:
            with _quiet() if isinstance(tracker, TrackioCallback) else contextlib.nullcontext():
                getattr(tracker, event)(args, state, control, **kwargs)
        self._describe_tensorboard(state)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._forward("on_train_begin", args, state, control, **kwargs)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        self.logged.update(logs or {})
        self._forward("on_log", args, state, control, logs=logs, **kwargs)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self.open:
            return
        self._forward("on_train_end", args, state, control, **kwargs)
        self.open = False

    # on_predict is not forwarded: the test metrics go through `finish` (the same way for tasks that score with
    # Trainer.evaluate, Trainer.predict or their own generation loop).

    def finish(self, trainer: Any, test_metrics: Mapping[str, Any]) -> None:
        """Log the test metrics the trackers have not seen, at the run's last step, then close them."""
        logs = {}
        for key, value in test_metrics.items():
            name = key if key.startswith("test_") else f"test_{key}"
            if isinstance(value, (int, float)) and not isinstance(value, bool) and name not in self.logged:
                logs[name] = value
        if logs:
            self.on_log(trainer.args, trainer.state, trainer.control, logs=logs, model=trainer.model)
        self.on_train_end(trainer.args, trainer.state, trainer.control, model=trainer.model)


def of(trainer: Any) -> Optional[Trackers]:
    """The trainer's :class:`Trackers`, if it reports to TensorBoard or trackio."""
    return next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, Trackers)), None)


def attach(trainer: Any, metadata: Optional[Mapping[str, Any]] = None, metric_names: Sequence[str] = (),
           output_dir: str | os.PathLike = "") -> None:
    """Take ``trainer``'s TensorBoard / trackio callbacks into one :class:`Trackers` with the run's ``metadata``.
    A trainer that already has one (a linear probe's head trainer, which copies the run's callbacks) drops the
    fresh integrations its arguments gave it: the run reports through the trackers it started with."""
    trackers = [cb for cb in trainer.callback_handler.callbacks if isinstance(cb, TRACKERS)]
    for tracker in trackers:
        trainer.callback_handler.remove_callback(tracker)
    if not trackers or of(trainer) is not None:
        return
    trainer.add_callback(Trackers(trackers, metadata or {}, metric_names, output_dir or trainer.args.output_dir,
                                  Path(trainer.args.output_dir) / "runs"))


def finish(trainer: Any, test_metrics: Mapping[str, Any]) -> None:
    """Log the run's test metrics to its trackers and close them (a no-op without trackers)."""
    trackers = of(trainer)
    if trackers is not None:
        trackers.finish(trainer, test_metrics)

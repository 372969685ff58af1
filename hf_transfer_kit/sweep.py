"""Hyperparameter sweeps: ``hf-transfer-kit sweep CONFIG key=loguniform(a,b) ... --trials N --study-dir DIR``.

Any config field can be searched with a distribution written as an override -- ``training.learning_rate=
loguniform(1e-5,1e-2)``, ``strategy.r=choice(4,8,16)``, ``strategy.name=choice(lora,ia3,full)``, ``uniform(a,b)``,
``int(a,b)``; plain ``a.b=value`` overrides fix a value for every trial. Every distribution and every field is
parsed and validated before any training (:func:`plan_sweep`): each category choice and both ends of each range go
through the normal config loader, so a bad field or a bad combination fails with a ConfigError naming the override.

Why Optuna directly, not ``Trainer.hyperparameter_search``: a trial here is a whole recipe run of a validated config
(``config_from_dict``), so a trial may switch the strategy (``strategy.name``, PEFT settings), the data caps or any
other section, and it keeps what every run has -- its staged output directory committed at the end, metrics.json,
the model card, early stopping, the kit's hardware defaults. ``hyperparameter_search`` re-initialises one Trainer's
model per trial and only varies TrainingArguments (plus ``model_init``'s arguments); its trials share one output
directory of ``run-N`` checkpoints, with no card, no metrics.json and no staging, and its ``n_trials`` counts the trials
of one call, not of the study, so a rerun would not stop at a total. Optuna's own storage (SQLite by default, any RDB
for a cluster) makes the study resumable and shareable between worker processes; the trials' pruning goes through
the Trainer's extension point, a ``TrainerCallback`` (:class:`PruneOnValidation`) -- what transformers' own Optuna
integration uses too.

What a trial may see: the config's seed and every data split setting are fixed for the whole study (searching them is
refused), so every trial trains on the same seeded training split and is scored on the same validation split. The
objective is the task's main validation metric (``training.metric_for_best_model`` when the config sets it), from the
trial's final evaluation on the validation split; trials never score the test split (no test evaluation, no
baselines). Score the chosen model on test once, after the sweep: ``hf-transfer-kit evaluate DIR/trials/<number>``.

Outputs in the study directory: ``study.db`` (the Optuna storage, unless ``--storage`` names another),
``trials/<number>/`` (each finished trial's run directory, scored on validation; ``keep="best"`` keeps only the best
trial's), ``trials.csv`` / ``trials.md`` (number, state, value, duration, parameters), ``sweep.png`` (objective per
trial; parameter importance or the objective against the one parameter) and ``best.yaml`` (the full config with the
best parameters: ``hf-transfer-kit train best.yaml``). Reports are rewritten after every trial.

Resuming and workers: ``trials`` is the study's total. Rerunning the same command continues the study and runs only
the missing trials; a trial whose worker died is marked failed and its parameters are queued again, and it is not
counted. Several workers (processes on one machine, or nodes sharing an RDB) run trials of one study until together
they reach the total.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import functools
import hashlib
import inspect
import io
import json
import math
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Optional, Union

import optuna
import yaml
from optuna.trial import TrialState
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from . import outputs, plots
from .config import RecipeConfig, apply_overrides, config_from_dict, config_to_dict
from .config.loader import SAVED_HEADER, parse_value, read_yaml
from .config.schema import DataConfig
from .errors import ConfigError, TrainingInterrupted, closest
from .registry import get_task
from .strategies import STRATEGIES
from .strategies.peft_method import PeftStrategyConfig, method_fields, peft_config_class
from .strategy_runs import parse_entry

#: The distributions an override may give, and how each is written.
DISTRIBUTIONS = {"loguniform": "loguniform(low,high)", "uniform": "uniform(low,high)", "int": "int(low,high)",
                 "choice": "choice(a,b,...)"}
#: Written into the study directory: the proof that the directory is a sweep's (its files may be rewritten).
MARKER = ".hf_transfer_kit_sweep"
#: The default storage, inside the study directory.
STUDY_DB = "study.db"
#: Seconds between a running trial's heartbeats, and after how many without one the trial counts as dead (another
#: worker then marks it failed and queues its parameters again).
HEARTBEAT_SECONDS = 60
GRACE_SECONDS = 180
#: Every combination of categorical choices and range ends is validated up to this many; beyond it, each
#: distribution's values are validated one at a time.
MAX_PROBES = 512
#: Parameter importance needs this many completed trials (and at least two parameters).
MIN_TRIALS_FOR_IMPORTANCE = 5

_FIXED_KEYS = {
    "task": "the task decides the metric the study optimises",
    "output_dir": "each trial writes into DIR/trials/<number>",
    "overwrite_output_dir": "each trial writes into its own new directory",
    "resume": "trials are not resumed; a rerun of the sweep continues the study",
    "resume_allow_changes": "trials are not resumed; a rerun of the sweep continues the study",
    "baselines": "trials never score the test split, where the baselines are computed",
    "training.seed": "every trial must train on the same seeded splits",
    "training.data_seed": "every trial must see the same data order",
    "training.metric_for_best_model": "the study optimises one metric",
    "training.greater_is_better": "the study optimises in one direction",
    "model.problem_type": "the problem type decides the metric the study optimises",
}
_FIXED_KEYS.update({f"data.{f.name}": "every trial must train and be scored on the same splits"
                    for f in dataclasses.fields(DataConfig) if f.name != "max_train_samples"})
_FIXED_KEYS.update({f"hub.{name}": "trials are never pushed; push the run of best.yaml"
                    for name in ("push_to_hub", "repo_id", "private")})
_CALL = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$", re.S)


# ---- the search space ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Distribution:
    """One searched field: ``key=kind(args)`` as given on the command line."""

    key: str
    kind: str
    args: tuple[Any, ...]
    text: str

    @property
    def override(self) -> str:
        return f"{self.key}={self.text}"

    @property
    def encoded(self) -> bool:
        """Choices Optuna cannot store as they are (lists, mappings) are stored as their YAML text."""
        return self.kind == "choice" and not all(v is None or isinstance(v, (bool, int, float, str)) for v in self.args)

    def choices(self) -> list[Any]:
        return [_yaml_text(v) for v in self.args] if self.encoded else list(self.args)

    def decode(self, value: Any) -> Any:
        return parse_value(value) if self.encoded else value

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "choice":
            return self.decode(trial.suggest_categorical(self.key, self.choices()))
        if self.kind == "int":
            return trial.suggest_int(self.key, self.args[0], self.args[1])
        return trial.suggest_float(self.key, float(self.args[0]), float(self.args[1]), log=self.kind == "loguniform")

    def probes(self) -> list[Any]:
        """The values validated before any training: every choice, or both ends of the range."""
        if self.kind == "choice":
            return list(self.args)
        return [self.args[0], self.args[1]] if self.kind == "int" else [float(self.args[0]), float(self.args[1])]


def _yaml_text(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).removesuffix("...\n").strip()


def _split_args(body: str) -> list[str]:
    """Split ``a,[b,c],d`` at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(body):
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    return [*parts, body[start:]]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_distribution(key: str, text: str) -> Optional[Distribution]:
    """``loguniform(1e-5,1e-2)`` -> a :class:`Distribution` of ``key``; None for a plain value (a fixed override)."""
    match = _CALL.match(text)
    if match is None:
        return None
    kind, body = match.group(1), match.group(2)
    forms = " ".join(DISTRIBUTIONS.values())
    if kind not in DISTRIBUTIONS:
        raise ConfigError(key, text, f"'{kind}' is not a distribution.{closest(kind, DISTRIBUTIONS)} Use one of "
                          f"{forms}, e.g. {key}=loguniform(1e-5,1e-2).")
    raw = [part.strip() for part in _split_args(body)]
    if any(part == "" for part in raw):
        raise ConfigError(key, text, f"an argument is empty; write {DISTRIBUTIONS[kind]} with comma-separated values, "
                          "e.g. choice(4,8,16).")
    args = tuple(parse_value(part) for part in raw)
    if kind == "choice":
        if len(args) < 2:
            raise ConfigError(key, text, f"give at least two values to choose from, e.g. {key}=choice(a,b); to fix "
                              f"one value for every trial write {key}={raw[0] if raw else 'value'}.")
        texts = [_yaml_text(v) for v in args]
        if len(set(texts)) != len(texts):
            raise ConfigError(key, text, "a value is listed twice; list each choice once.")
        return Distribution(key, kind, args, text)
    if len(args) != 2:
        raise ConfigError(key, text, f"{kind} takes two numbers, low and high: write {key}={kind}(low,high), e.g. "
                          f"{kind}({'4,64' if kind == 'int' else '1e-5,1e-2'}).")
    low, high = args
    if kind == "int" and not all(isinstance(v, int) and not isinstance(v, bool) for v in args):
        raise ConfigError(key, text, f"int(low,high) takes whole numbers, e.g. {key}=int(4,64); use uniform(low,high) "
                          "for a real-valued range.")
    if not (_number(low) and _number(high)):
        raise ConfigError(key, text, f"{kind} takes two finite numbers, e.g. {key}={kind}(1e-5,1e-2).")
    if not low < high:
        raise ConfigError(key, text, f"low ({low}) must be below high ({high}); write {key}={kind}({high},{low}) "
                          f"{'' if low != high else 'or fix the value with ' + key + '=' + str(low)}".strip() + ".")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(key, text, f"a log-uniform range needs 0 < low < high (low is {low}); give a positive low, "
                          f"e.g. {key}=loguniform(1e-6,{high}), or use uniform(low,high) for a range that includes "
                          "0 or negative values.")
    return Distribution(key, kind, args, text)


def parse_overrides(overrides: Sequence[str]) -> tuple[list[str], list[Distribution]]:
    """Split overrides into fixed ones (``a.b=value``) and the search space (``a.b=kind(...)``), refusing a searched
    field that must stay fixed, a field searched twice, or one both fixed and searched."""
    fixed: list[str] = []
    space: list[Distribution] = []
    for item in overrides:
        if "=" not in item:
            raise ConfigError("override", item, "write dotted.key=value to fix a value, or dotted.key=distribution "
                              "to search it, e.g. training.learning_rate=loguniform(1e-5,1e-2).")
        key, _, text = item.partition("=")
        key = key.strip()
        dist = parse_distribution(key, text)
        if dist is None:
            fixed.append(f"{key}={text}")
            continue
        if key in _FIXED_KEYS:
            raise ConfigError(key, text, f"cannot be searched: {_FIXED_KEYS[key]}; remove the distribution (fix it "
                              f"with {key}=value if you need another value).")
        if any(d.key == key for d in space):
            raise ConfigError(key, text, "is searched twice; give one distribution per field.")
        space.append(dist)
    for item in fixed:
        key = item.partition("=")[0]
        clash = next((d for d in space if d.key == key), None)
        if clash is not None:
            raise ConfigError(key, clash.text, f"is also fixed by the override {item}; drop one of the two.")
    return fixed, space


# ---- the strategy section under a searched strategy.name --------------------------------------------------------

def _strategy_section(name: Any) -> dict[str, Any]:
    """A ``strategy.name`` choice as a strategy section: a PEFT method name (ia3, loha) selects strategy peft."""
    return parse_entry(str(name))[0]


def _same_strategy(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    method = lambda s: str(s.get("method") or "").lower()  # noqa: E731
    return a.get("name", "full") == b.get("name", "full") and method(a) == method(b)


def _strategy_fields(section: Mapping[str, Any]) -> set[str]:
    """The keys a strategy section accepts (a PEFT strategy: its method's config fields too); empty for an unknown
    strategy, which the validation then reports."""
    strategy = STRATEGIES.get(section.get("name", "full"))
    if strategy is None:
        return set()
    cls = strategy.config_cls
    keys = {f.name for f in dataclasses.fields(cls) if f.init} - {"options"}
    if issubclass(cls, PeftStrategyConfig):
        method = section.get("method") or cls.default_method
        try:
            keys |= set(method_fields(peft_config_class(str(method))))
        except ConfigError:
            return set()
    return keys


# ---- the plan: everything checked before any training -------------------------------------------------------------

@dataclass
class SweepPlan:
    """A validated sweep: the base config (CONFIG plus its fixed overrides, as a YAML-shaped dict), the search space,
    the objective and where the study lives. Built by :func:`plan_sweep`; each worker process builds its own from the
    same command line."""

    base: dict[str, Any]
    saved: bool
    fixed: list[str]
    space: list[Distribution]
    metric: str
    greater: bool
    study_dir: Path
    study_name: str
    storage: str
    seed: int

    @property
    def direction(self) -> str:
        return "maximize" if self.greater else "minimize"

    @property
    def definition(self) -> dict[str, Any]:
        """What a study is: its base config, space and objective. A rerun must match it to continue the study."""
        settings = config_to_dict(config_from_dict(self.base, self.saved))
        for key in ("output_dir", "overwrite_output_dir", "resume", "resume_allow_changes"):
            settings.pop(key, None)
        digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return {"config": digest, "space": sorted(d.override for d in self.space), "metric": self.metric,
                "direction": self.direction}

    @property
    def storage_shown(self) -> str:
        """The storage URL with any password hidden (for messages and reports)."""
        with contextlib.suppress(Exception):
            from sqlalchemy.engine import make_url

            return make_url(self.storage).render_as_string(hide_password=True)
        return self.storage

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters as Optuna stores them -> config values (list or mapping choices are stored as YAML text)."""
        by_key = {d.key: d for d in self.space}
        return {k: by_key[k].decode(v) if k in by_key else v for k, v in params.items()}

    def trial_dir(self, number: int) -> Path:
        return self.study_dir / "trials" / str(number)

    def fixed_strategy(self) -> dict[str, Any]:
        """Fixed ``strategy.<field>`` overrides, re-applied when a trial switches the strategy."""
        out = {}
        for item in self.fixed:
            key, _, text = item.partition("=")
            if key.startswith("strategy.") and key != "strategy.name" and key.count(".") == 1:
                out[key.split(".", 1)[1]] = parse_value(text)
        return out

    def applicable(self, params: Mapping[str, Any], dist: Distribution) -> bool:
        """A ``strategy.<field>`` distribution applies when the trial's strategy has the field (conditional search)."""
        if "strategy.name" not in params or not dist.key.startswith("strategy.") or dist.key == "strategy.name":
            return True
        return dist.key.split(".", 1)[1] in _strategy_fields(_strategy_section(params["strategy.name"]))

    def raw_for(self, params: Mapping[str, Any], output_dir: Optional[Path] = None) -> dict[str, Any]:
        """The YAML-shaped config of a trial with ``params`` (for ``best.yaml`` when ``output_dir`` is None: the base
        config's own output_dir, baselines and Hub settings are kept)."""
        raw = copy.deepcopy(self.base)
        if "strategy.name" in params:
            chosen = _strategy_section(params["strategy.name"])
            if not _same_strategy(chosen, raw.get("strategy") or {}):
                accepted = _strategy_fields(chosen)
                raw["strategy"] = {**chosen, **{k: v for k, v in self.fixed_strategy().items() if k in accepted}}
        apply_overrides(raw, [f"{key}={_yaml_text(value)}" for key, value in params.items() if key != "strategy.name"])
        if output_dir is not None:
            raw.update(output_dir=str(output_dir), overwrite_output_dir=False, resume=False, resume_allow_changes=False,
                       baselines=False)
            raw["hub"] = {**(raw.get("hub") or {}), "push_to_hub": False}
            raw["training"] = {**(raw.get("training") or {}), "disable_tqdm": True}
        return raw

    def config_for(self, params: Mapping[str, Any], output_dir: Optional[Path] = None) -> RecipeConfig:
        return config_from_dict(self.raw_for(params, output_dir), self.saved)


def _read_base(config: Union[str, os.PathLike, RecipeConfig, Mapping[str, Any]]) -> tuple[dict[str, Any], bool]:
    if isinstance(config, RecipeConfig):
        return config_to_dict(config), False
    if isinstance(config, Mapping):
        return copy.deepcopy(dict(config)), False
    raw = read_yaml(config)
    return raw, Path(config).read_text().startswith(SAVED_HEADER)


def objective_of(config: RecipeConfig) -> tuple[str, bool]:
    """(validation metric without its ``eval_`` prefix, higher is better): ``training.metric_for_best_model`` when the
    config sets it, else the task's main metric (accuracy for single-label classification)."""
    training = config.training
    name = training.get("metric_for_best_model")
    if name:
        name = str(name).removeprefix("eval_")
        return name, bool(training.get("greater_is_better", not name.endswith("loss")))
    return get_task(config.task)(config).best_metric()


def _probe_sets(space: Sequence[Distribution]) -> Iterator[dict[str, Any]]:
    """Parameter sets that validate the space: every combination when there are few, else one distribution at a time
    (the others at their first value)."""
    values = [d.probes() for d in space]
    if math.prod(len(v) for v in values) <= MAX_PROBES:
        for combo in product(*values):
            yield dict(zip((d.key for d in space), combo))
        return
    first = {d.key: v[0] for d, v in zip(space, values)}
    for d, options in zip(space, values):
        for value in options:
            yield {**first, d.key: value}


def _validate_space(plan: SweepPlan) -> None:
    """Each probe set through the config loader, exactly as a trial's config is built."""
    by_key = {d.key: d for d in plan.space}
    names = by_key.get("strategy.name")
    if names is not None:  # a strategy field must belong to one of the strategies searched
        sections = [_strategy_section(n) for n in names.args]
        for d in plan.space:
            key = d.key.removeprefix("strategy.")
            if d.key.startswith("strategy.") and d is not names and \
                    not any(key in _strategy_fields(s) for s in sections):
                raise ConfigError(d.key, d.text, f"none of the strategies searched ({', '.join(map(str, names.args))}) "
                                  f"has the field '{key}'; remove this distribution or add a strategy that has it.")
        for key, value in plan.fixed_strategy().items():
            base_has = key in _strategy_fields(plan.base.get("strategy") or {})
            if not base_has and not any(key in _strategy_fields(s) for s in sections):
                raise ConfigError(f"strategy.{key}", value, f"none of the strategies searched has the field '{key}'; "
                                  "remove the override.")
    seen: set[str] = set()
    for probe in _probe_sets(plan.space):
        params = {k: v for k, v in probe.items() if plan.applicable(probe, by_key[k])}
        fingerprint = json.dumps(params, sort_keys=True, default=str)
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        try:
            plan.config_for(params, plan.trial_dir(0))
        except ConfigError as err:
            culprit = by_key.get(err.param) or \
                next((d for d in plan.space if d.key.startswith(f"{err.param}.")), None) or \
                (by_key[next(iter(params))] if len(params) == 1 else None)
            if culprit is None and err.param.startswith("strategy.") and "strategy.name" in params:
                culprit = by_key["strategy.name"]
            if culprit is not None:
                raise _blame(plan, culprit, params, err) from err
            combo = ", ".join(f"{k}={v!r}" for k, v in params.items())
            raise ConfigError(" + ".join(params), combo, f"this combination of the searched values does not "
                              f"validate: {err} Change the ranges or choices so that every combination is a valid "
                              "config.") from err


def _blame(plan: SweepPlan, culprit: Distribution, params: Mapping[str, Any], err: ConfigError) -> ConfigError:
    """The error for a distribution whose value failed: the field itself when every value of it fails (an unknown
    key), else the failing value, to narrow the range or the choices to."""
    reason = err.fix if err.param == culprit.key else str(err)
    for value in culprit.probes():
        try:
            plan.config_for({**params, culprit.key: value}, plan.trial_dir(0))
        except ConfigError:
            continue
        return ConfigError(culprit.key, culprit.text, f"with {culprit.key}={params.get(culprit.key)!r} the config does "
                           f"not validate: {reason} Narrow the {culprit.kind} to values the field accepts.")
    return ConfigError(culprit.key, culprit.text, reason)


def plan_sweep(config: Union[str, os.PathLike, RecipeConfig, Mapping[str, Any]], overrides: Sequence[str],
               study_dir: Union[str, os.PathLike], *, study_name: Optional[str] = None, storage: Optional[str] = None,
               seed: Optional[int] = None) -> SweepPlan:
    """Parse and validate a sweep before any training: the base config, every distribution and every field (each
    choice and both ends of each range go through the config loader), the objective, the study directory and the
    storage URL. ``config``: a recipe YAML, a :class:`RecipeConfig` or a YAML-shaped dict."""
    fixed, space = parse_overrides(overrides)
    if not space:
        raise ConfigError("overrides", list(overrides), "give at least one field to search, e.g. "
                          "training.learning_rate=loguniform(1e-5,1e-2) or strategy.r=choice(4,8,16).")
    raw, saved = _read_base(config)
    apply_overrides(raw, fixed)
    base = config_from_dict(raw, saved)  # the base config's own errors, as `train` would report them
    directory = Path(study_dir)
    if directory.exists() and not directory.is_dir():
        raise ConfigError("--study-dir", str(directory), "is a file; choose a directory for the study.")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / MARKER).is_file():
        names = sorted(p.name for p in directory.iterdir())
        raise ConfigError("--study-dir", str(directory), f"holds files that are not a sweep of hf_transfer_kit "
                          f"({', '.join(names[:4])}{' ...' if len(names) > 4 else ''}); choose a new or empty "
                          "directory (a sweep's own directory continues its study).")
    if storage is None:
        storage = f"sqlite:///{(directory / STUDY_DB).resolve()}"
    elif "://" not in storage:
        raise ConfigError("--storage", storage, "give a database URL, e.g. sqlite:///sweeps/study.db or "
                          "postgresql://user:password@host:5432/optuna (leave it out for DIR/study.db).")
    metric, greater = objective_of(base)
    plan = SweepPlan(base=raw, saved=saved, fixed=fixed, space=space, metric=metric, greater=greater,
                     study_dir=directory, study_name=study_name or Path(base.output_dir).name or "sweep",
                     storage=storage, seed=int(base.training.get("seed", 42) if seed is None else seed))
    _validate_space(plan)
    return plan


# ---- the study ---------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise study creation between workers on one machine (SQLite's schema must be created once)."""
    try:
        import fcntl
    except ImportError:  # no POSIX locks: workers are started one after the other
        yield
        return
    with open(directory / MARKER, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _retry_callback() -> Any:
    """Optuna's callback that queues a failed trial's parameters again, once (renamed in Optuna 4.9)."""
    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    return cls(max_retry=1)


def _storage(plan: SweepPlan) -> optuna.storages.RDBStorage:
    stale = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in \
        inspect.signature(optuna.storages.RDBStorage).parameters else "failed_trial_callback"
    engine = {"connect_args": {"timeout": 60}} if plan.storage.startswith("sqlite") else None
    try:
        return optuna.storages.RDBStorage(plan.storage, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_SECONDS,
                                          grace_period=GRACE_SECONDS, **{stale: _retry_callback()})
    except ImportError as err:
        raise ConfigError("--storage", plan.storage_shown, f"its database driver is not installed ({err}); install it, "
                          "e.g. pip install psycopg2-binary for postgresql://.") from err
    except Exception as err:  # SQLAlchemy: a malformed URL, a database that cannot be reached
        raise ConfigError("--storage", plan.storage_shown, f"cannot open it ({type(err).__name__}: "
                          f"{str(err).splitlines()[0][:200]}); check the URL, e.g. "
                          "postgresql://user:password@host:5432/optuna, and that the database is reachable.") from err


def open_study(plan: SweepPlan) -> optuna.Study:
    """Create the study, or load it to continue it: its definition (base config, space, objective) must match."""
    with _quiet_optuna():
        return _open_study(plan)


def _open_study(plan: SweepPlan) -> optuna.Study:
    created = not plan.study_dir.exists()
    try:
        plan.study_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError("--study-dir", str(plan.study_dir), f"cannot create it ({err.strerror}); choose a writable "
                          "directory.") from err
    with _locked(plan.study_dir):
        (plan.study_dir / MARKER).write_text(f"hf-transfer-kit sweep directory of study {plan.study_name}\n")
        try:
            storage = _storage(plan)
        except ConfigError:
            if created and [p.name for p in plan.study_dir.iterdir()] == [MARKER]:  # nothing of the sweep left
                shutil.rmtree(plan.study_dir)
            raise
        study = optuna.create_study(storage=storage, study_name=plan.study_name, direction=plan.direction,
                                    load_if_exists=True)
        stored = study.user_attrs.get("hf_transfer_kit")
        if stored is None and not study.trials:
            study.set_user_attr("hf_transfer_kit", plan.definition)
        elif stored != plan.definition:
            what = "was not started by hf-transfer-kit sweep" if stored is None else (
                "searches another space" if stored.get("space") != plan.definition["space"] else
                "optimises another metric" if stored.get("metric") != plan.metric else
                "was started from another config (CONFIG or its fixed overrides differ)")
            raise ConfigError("--study-name", plan.study_name, f"the study of that name in {plan.storage_shown} "
                              f"{what}; rerun with the same CONFIG and overrides to continue it, or choose a new "
                              "--study-dir or --study-name.")
    return study


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _discard_staging(directory: Path) -> None:
    """Remove a trial's staging directory (trials are never resumed), only when the kit's marker proves it ours."""
    staging = outputs.staging_dir(directory)
    if (staging / outputs.MARKER).is_file():
        shutil.rmtree(staging, ignore_errors=True)


def _retry(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue a failed trial's parameters again (once), as Optuna's own stale-trial handling does."""
    _retry_callback()(study, trial)


def fail_dead_trials(study: optuna.Study, plan: SweepPlan) -> list[int]:
    """Mark failed (and queue again) the running trials whose worker process on this machine is gone, and the
    trials of any machine whose heartbeat stopped; their half-written staging directories are removed."""
    host = socket.gethostname()
    failed = []
    storage = study._storage
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        where, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        if where != host or not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first
        _retry(study, storage.get_trial(trial._trial_id))
        failed.append(trial.number)
    optuna.storages.fail_stale_trials(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        _discard_staging(plan.trial_dir(trial.number))
    return failed


def _counted(study: optuna.Study, below: Optional[int] = None, running: bool = True) -> list[optuna.trial.FrozenTrial]:
    """The trials that count towards the total: finished (complete or pruned) and, with ``running``, running ones."""
    states = (TrialState.COMPLETE, TrialState.PRUNED, *((TrialState.RUNNING,) if running else ()))
    return [t for t in study.get_trials(deepcopy=False, states=states)
            if not t.user_attrs.get("surplus") and (below is None or t.number < below)]


class _Surplus(Exception):
    """A worker asked for a trial after the others had taken the last one (a race between workers)."""


class PruneOnValidation(TrainerCallback):
    """Report each validation evaluation to the trial; when the pruner says so, stop the trial (``TrialPruned``).

    The trial's checkpoints are removed before raising (a pruned trial is never resumed), so the recipe's own cleanup
    removes its staging directory and nothing of the trial is left behind.
    """

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial = trial
        self.key = f"eval_{metric}"
        self.pruned_at: Optional[tuple[int, float]] = None

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> None:
        if not metrics or self.key not in metrics:
            return  # not a validation evaluation of the objective's metric
        value = float(metrics[self.key])
        self.trial.report(value, state.global_step)
        if not self.trial.should_prune():
            return
        self.pruned_at = (state.global_step, value)
        staging = Path(args.output_dir)
        if (staging / outputs.MARKER).is_file():
            for checkpoint in staging.glob("checkpoint-*"):
                shutil.rmtree(checkpoint, ignore_errors=True)
        raise optuna.TrialPruned(f"validation {self.key[5:]} {value:.4g} at step {state.global_step}")


@functools.cache
def trial_recipe(task_cls: type) -> type:
    """``task_cls`` as a sweep trial: its final evaluation scores the validation split instead of the test split (a
    trial never reads test), the scores and the trial go into metrics.json, and the card says what it was scored on."""

    class SweepTrial(task_cls):  # type: ignore[misc, valid-type]
        sweep_record: dict[str, Any] = {}

        def evaluate(self, split: str = "test") -> dict[str, Any]:
            if split != "test":
                return super().evaluate(split)
            self.validation_scores = super().evaluate("validation")
            return {}  # the test split is never scored by a trial

        def build_trainer(self) -> Any:
            trainer = super().build_trainer()
            trainer.remove_callback(PrinterCallback)  # no log dicts on the console (tqdm is off in trials)
            return trainer

        def save(self, directory: Path, metrics: dict[str, Any]) -> None:
            super().save(directory, {**metrics, "validation": self.validation_scores, "sweep": self.sweep_record})

        def card_record(self, metrics: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            card = self.resolved_config()  # the card reports the validation scores, named as such
            card.data.test_split = card.data.validation_split
            return card, {**metrics, "test": self.validation_scores}

    SweepTrial.__name__ = SweepTrial.__qualname__ = f"SweepTrial{task_cls.__name__}"
    return SweepTrial


# ---- running -----------------------------------------------------------------------------------------------------

@dataclass
class SweepResult:
    """Where a sweep stands after this process's trials: counts, the best trial and the files written."""

    study_name: str
    study_dir: Path
    metric: str
    direction: str
    counts: dict[str, int]
    ran: int
    seconds: float
    best: Optional[dict[str, Any]]
    files: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> str:
        total = sum(self.counts.get(s, 0) for s in ("complete", "pruned"))
        others = "".join(f"; {self.counts[s]} {word}" for s, word in (("fail", "failed, not counted"),
                                                                      ("running", "running")) if self.counts.get(s))
        lines = [f"[sweep] study {self.study_name}: {total} trials ({self.counts.get('complete', 0)} complete, "
                 f"{self.counts.get('pruned', 0)} pruned){others}; {self.ran} run now in {self.seconds:.0f} s"]
        if self.best:
            lines[0] += (f"; best: trial {self.best['number']}, validation {self.metric} {self.best['value']:.4f} "
                         f"with {_params_text(self.best['params'])}")
            out = self.best.get("output_dir")
            lines.append(f"[sweep] best config: {self.files['best']} (hf-transfer-kit train {self.files['best']})"
                         + (f"; its model: {out} (score it on test once: hf-transfer-kit evaluate {out})"
                            if out else ""))
        lines.append(f"[sweep] table: {self.files.get('table_md')}" +
                     (f", plot: {self.files['plot']}" if self.files.get("plot") else ""))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"study": self.study_name, "study_dir": str(self.study_dir), "metric": self.metric,
                "direction": self.direction, "trials": self.counts, "best": self.best,
                "files": {k: str(v) for k, v in self.files.items()}}


def _value_text(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _params_text(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={_value_text(v)}" for k, v in params.items()) or "(no parameters)"


def _duration(trial: optuna.trial.FrozenTrial) -> Optional[float]:
    if trial.datetime_start and trial.datetime_complete:
        return round((trial.datetime_complete - trial.datetime_start).total_seconds(), 1)
    return None


def trial_line(trial: optuna.trial.FrozenTrial, metric: str) -> str:
    """One console line per trial: number, parameters, value, state, duration."""
    params = _params_text(trial.params)
    state = trial.state.name.lower()
    if trial.state == TrialState.COMPLETE:
        outcome = f"validation {metric} {trial.value:.4f}"
    elif trial.state == TrialState.PRUNED and trial.intermediate_values:
        step = max(trial.intermediate_values)
        outcome = f"pruned at step {step} ({metric} {trial.intermediate_values[step]:.4f})"
    else:
        outcome = state
    seconds = _duration(trial)
    return f"[sweep] trial {trial.number}: {params} -> {outcome} [{state}" + \
        (f", {seconds:.1f} s]" if seconds is not None else "]")


def _make_pruner(pruner: Union[str, optuna.pruners.BasePruner, None], startup: int) -> optuna.pruners.BasePruner:
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner in (None, "none"):
        return optuna.pruners.NopPruner()
    if pruner == "median":
        if startup < 0:
            raise ConfigError("--pruner-startup-trials", startup, "use 0 or a positive number of completed trials "
                              "before pruning starts, e.g. 5.")
        return optuna.pruners.MedianPruner(n_startup_trials=startup)
    raise ConfigError("--pruner", pruner, "use median (stop a trial whose validation score is below the median of "
                      "earlier trials at the same step) or none.")


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's own log lines and experimental-feature warnings: the sweep prints one line per trial instead."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            yield
        finally:
            optuna.logging.set_verbosity(level)


class _Objective:
    """One trial: its parameters suggested (a strategy field only where the trial's strategy has it), its config built
    and validated, the recipe run with the pruning callback, its validation score returned. ``number`` is the trial
    this process ran last."""

    def __init__(self, plan: SweepPlan, study: optuna.Study, trials: int) -> None:
        self.plan, self.study, self.trials = plan, study, trials
        self.number: Optional[int] = None

    def __call__(self, trial: optuna.Trial) -> float:
        plan = self.plan
        self.number = trial.number
        trial.set_user_attr("worker", _worker())
        if len(_counted(self.study, below=trial.number)) >= self.trials:  # another worker took the last trial
            trial.set_user_attr("surplus", True)
            raise _Surplus
        by_key = {d.key: d for d in plan.space}
        params: dict[str, Any] = {}
        names = by_key.get("strategy.name")
        if names is not None:
            params["strategy.name"] = names.suggest(trial)
        for d in plan.space:
            if d is not names and plan.applicable(params, d):
                params[d.key] = d.suggest(trial)
        out = plan.trial_dir(trial.number)
        try:
            config = plan.config_for(params, out)
        except ConfigError as err:
            raise ConfigError(err.param, err.value, f"{err.fix} (sweep trial {trial.number} with "
                              f"{_params_text(params)}; narrow the search space so every trial validates)") from err
        recipe = trial_recipe(get_task(config.task))(config, callbacks=[PruneOnValidation(trial, plan.metric)])
        recipe.sweep_record = {"study": plan.study_name, "trial": trial.number, "params": params,
                               "objective": f"validation {plan.metric}", "direction": plan.direction}
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the per-run lines; the sweep prints one per trial
                recipe.run()
        except BaseException:
            _discard_staging(out)
            raise
        scores = recipe.validation_scores
        if not isinstance(scores.get(plan.metric), (int, float)):
            available = sorted(k for k, v in scores.items() if isinstance(v, (int, float)))
            raise ConfigError("training.metric_for_best_model", plan.metric, f"the validation scores have no "
                              f"'{plan.metric}'; set it to one of {', '.join(available)}.")
        trial.set_user_attr("output_dir", str(out.relative_to(plan.study_dir)))
        trial.set_user_attr("validation", {k: v for k, v in scores.items() if isinstance(v, (int, float))})
        return float(scores[plan.metric])

    def last_trial(self) -> Optional[optuna.trial.FrozenTrial]:
        if self.number is None:
            return None
        return next((t for t in self.study.get_trials(deepcopy=False) if t.number == self.number), None)


def check_options(trials: Any, keep: str = "all") -> None:
    """The run options every worker shares: a positive total of trials, which outputs to keep."""
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError("--trials", trials, "use a positive number of trials for the study, e.g. 20.")
    if keep not in ("all", "best"):
        raise ConfigError("--keep", keep, "use all (every trial's output) or best (only the best trial's).")


def run_sweep(plan: SweepPlan, trials: int, *, pruner: Union[str, optuna.pruners.BasePruner, None] = "median",
              pruner_startup_trials: int = 5, keep: str = "all",
              echo: Optional[Callable[[str], None]] = None) -> SweepResult:
    """Run trials in this process until the study holds ``trials`` finished ones (complete or pruned), counting the
    trials other workers run on the same storage. ``keep``: 'all' trial outputs or only the 'best' one. ``echo``
    receives one line per trial (default: standard error)."""
    check_options(trials, keep)
    echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    start = time.perf_counter()
    ran = 0
    with _quiet_optuna():
        the_pruner = _make_pruner(pruner, pruner_startup_trials)
        study = open_study(plan)
        study.pruner = the_pruner
        objective = _Objective(plan, study, trials)
        while True:
            fail_dead_trials(study, plan)
            if len(_counted(study)) >= trials:
                break
            # a sampler seeded per trial: reproducible for one worker, different proposals for concurrent workers
            study.sampler = optuna.samplers.TPESampler(seed=plan.seed + len(study.get_trials(deepcopy=False)))
            objective.number = None
            try:
                study.optimize(objective, n_trials=1, catch=(_Surplus,), gc_after_trial=True)
            except (TrainingInterrupted, KeyboardInterrupt) as err:
                mine = objective.last_trial()
                if mine is not None and mine.state == TrialState.FAIL:
                    _retry(study, mine)
                write_reports(study, plan)
                where = f" during trial {mine.number}" if mine is not None else ""
                raise TrainingInterrupted(f"the sweep stopped{where}; finished trials are kept in {plan.study_dir}. "
                                          "Rerun the same command to continue the study (the interrupted trial runs "
                                          "again).") from err
            except BaseException:  # a trial's ConfigError or a crash: the tables still show how far it got
                with contextlib.suppress(Exception):
                    write_reports(study, plan)
                raise
            mine = objective.last_trial()
            if mine is None or mine.user_attrs.get("surplus"):
                continue
            ran += 1
            echo(trial_line(mine, plan.metric))
            if keep == "best":
                remove_unkept(study, plan)
            write_reports(study, plan, plot=False)  # after every trial: a killed sweep's tables are up to date
        if keep == "best":
            remove_unkept(study, plan)
        files = write_reports(study, plan)
        return result_of(study, plan, ran, time.perf_counter() - start, files)


def best_trial(study: optuna.Study) -> Optional[optuna.trial.FrozenTrial]:
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not complete:
        return None
    sign = 1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1
    return max(complete, key=lambda t: (sign * float(t.value), -t.number))


def remove_unkept(study: optuna.Study, plan: SweepPlan) -> None:
    """``keep="best"``: remove the outputs of finished trials that are not the best. The best only ever improves, so
    a removed output can never become the best's; only directories the kit's marker proves ours are removed."""
    best = best_trial(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        out = plan.trial_dir(trial.number)
        if best is not None and trial.number != best.number and out.is_dir() and outputs.is_ours(out):
            shutil.rmtree(out)


def result_of(study: optuna.Study, plan: SweepPlan, ran: int, seconds: float, files: dict[str, Path]) -> SweepResult:
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("surplus") or trial.state == TrialState.WAITING:
            continue
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    best = best_trial(study)
    described = None
    if best is not None:
        out = plan.trial_dir(best.number)
        described = {"number": best.number, "value": float(best.value), "params": dict(best.params),
                     "output_dir": str(out) if out.is_dir() else None}
    return SweepResult(plan.study_name, plan.study_dir, plan.metric, plan.direction, counts, ran, seconds, described,
                       files)


# ---- reports -------------------------------------------------------------------------------------------------------

def _write_atomic(path: Path, data: Union[str, bytes]) -> Path:
    """Write ``path`` through a unique temporary sibling renamed into place (workers may write it at the same time),
    with the permissions the user's umask gives."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    os.chmod(tmp, 0o666 & ~outputs.umask())
    os.replace(tmp, path)
    return path


def trial_rows(study: optuna.Study, plan: SweepPlan) -> list[dict[str, Any]]:
    """One row per trial of the study (queued and surplus ones left out), in trial order."""
    rows = []
    keys = [d.key for d in plan.space]
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if trial.user_attrs.get("surplus") or trial.state == TrialState.WAITING:
            continue
        value = trial.value if trial.state == TrialState.COMPLETE else None
        step = max(trial.intermediate_values) if trial.intermediate_values else None
        out = plan.trial_dir(trial.number)
        rows.append({"number": trial.number, "state": trial.state.name.lower(), "value": value,
                     "last_reported": None if step is None else trial.intermediate_values[step], "steps": step,
                     "duration_s": _duration(trial), **{k: trial.params.get(k) for k in keys},
                     "output_dir": str(out.relative_to(plan.study_dir)) if out.is_dir() else ""})
    return rows


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return buffer.getvalue()


def _markdown(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], plan: SweepPlan,
              best: Optional[optuna.trial.FrozenTrial]) -> str:
    head = [f"# Sweep `{plan.study_name}`", "",
            f"Objective: validation {plan.metric} ({plan.direction}). Storage: `{plan.storage_shown}`. "
            f"Search space: {', '.join(f'`{d.override}`' for d in plan.space)}."
            + (f" Fixed: {', '.join(f'`{o}`' for o in plan.fixed)}." if plan.fixed else ""), ""]
    if best is not None:
        head += [f"Best: trial {best.number}, validation {plan.metric} {best.value:.4f} "
                 f"(config: [best.yaml](best.yaml)).", ""]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [_value_text(row.get(k)) if row.get(k) is not None else "" for k in columns]
        if best is not None and row["number"] == best.number:
            cells[0] = f"**{cells[0]}** (best)"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(head + lines) + "\n"


def importances(study: optuna.Study, plan: SweepPlan) -> dict[str, float]:
    """Parameter importance (fANOVA) over the completed trials, when there are >= 2 searched parameters and
    ``MIN_TRIALS_FOR_IMPORTANCE`` completed trials; {} otherwise."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(plan.space) < 2 or len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return {}
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (ValueError, RuntimeError, ImportError, ZeroDivisionError):  # too few varied values, no scikit-learn
        return {}


def _plot(study: optuna.Study, plan: SweepPlan, rows: list[dict[str, Any]]) -> Optional[Path]:
    """sweep.png: the objective per trial, and the parameter importances (or, for one numeric parameter, the
    objective against it); None without matplotlib."""
    numeric = [d for d in plan.space if d.kind != "choice"]
    one = numeric[0] if len(plan.space) == 1 and numeric else None
    with tempfile.TemporaryDirectory(dir=plan.study_dir, prefix=".plot-") as tmp:
        drawn = plots.sweep_trials(rows, Path(tmp) / "sweep.png", plan.metric, plan.greater,
                                   importances=importances(study, plan), parameter=one.key if one else None,
                                   log=bool(one and one.kind == "loguniform"))
        return None if drawn is None else _write_atomic(plan.study_dir / "sweep.png", drawn.read_bytes())


def write_reports(study: optuna.Study, plan: SweepPlan, plot: bool = True) -> dict[str, Path]:
    """trials.csv, trials.md, best.yaml and (with ``plot``) sweep.png in the study directory, each replaced
    atomically."""
    rows = trial_rows(study, plan)
    columns = ["number", "state", "value", "last_reported", "steps", "duration_s", *(d.key for d in plan.space),
               "output_dir"]
    best = best_trial(study)
    directory = plan.study_dir
    files = {"table_csv": _write_atomic(directory / "trials.csv", _csv(rows, columns)),
             "table_md": _write_atomic(directory / "trials.md", _markdown(rows, columns, plan, best))}
    if plot:
        drawn = _plot(study, plan, rows)
        if drawn is not None:
            files["plot"] = drawn
    if best is not None:
        config = plan.config_for(plan.decode(best.params))
        header = (f"# Best trial {best.number} of sweep study '{plan.study_name}' (hf-transfer-kit sweep): validation "
                  f"{plan.metric} {best.value!r}, with {_params_text(best.params)}.\n"
                  f"# Train it: hf-transfer-kit train best.yaml   (the trial's own run: trials/{best.number})\n")
        files["best"] = _write_atomic(directory / "best.yaml",
                                      header + yaml.safe_dump(config_to_dict(config), sort_keys=False))
    return files


def study_report(plan: SweepPlan, since: Optional[float] = None) -> tuple[optuna.Study, SweepResult]:
    """The study as it stands (after worker processes ran it), with fresh reports; the trials finished since the
    time ``since`` (``time.time()``) count as run now."""
    with _quiet_optuna():
        study = open_study(plan)
        files = write_reports(study, plan)
        start = since or time.time()
        ran = [t for t in _counted(study, running=False) if t.datetime_complete and
               t.datetime_complete.timestamp() >= start]
        return study, result_of(study, plan, len(ran), time.time() - start, files)


__all__ = [
    "DISTRIBUTIONS", "Distribution", "check_options", "PruneOnValidation", "SweepPlan", "SweepResult", "best_trial",
    "fail_dead_trials", "objective_of", "open_study", "parse_distribution", "parse_overrides",
    "plan_sweep", "run_sweep", "study_report", "trial_recipe", "write_reports",
]

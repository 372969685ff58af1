"""The Recipe: one readable lifecycle around ``transformers.Trainer``.

    setup()   check inputs -> load data -> load model -> apply strategy -> preprocess -> build Trainer
    train()   Trainer.train()
    evaluate()  metrics on the test split (+ confusion matrix)
    save()    model or adapter, tokenizer, resolved config, metrics, card -> staged, then renamed into place

A task is a subclass in its own folder (``tasks/<task>/recipe.py``), registered with ``@register_task``. It answers
every task question as a class attribute or class method -- which Auto model and preprocessor it loads, its data
section, the pipeline task of its output, its card metrics and template, how a saved run predicts and is re-scored --
so inference, ``predict``, ``evaluate``, the cards and the Hub code ask the task instead of keeping tables of task
names. It overrides the small ``load_*`` / ``preprocess`` / ``compute_metrics`` steps; everything that is not
task-specific (strategies, outputs, hardware defaults, logging) lives here once. Extension points beyond
overriding: pass ``callbacks=[...]`` (any ``TrainerCallback``).

Publishing is the caller's step, after the run: ``hf-transfer-kit train`` pushes the committed output
(:func:`hf_transfer_kit.hub.push_output`); the recipe never talks to the Hub.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import errno
import functools
import inspect
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

import transformers
from transformers import TrainerCallback

from .. import batchnorm, kbit, lr_find, outputs, probe, resume_check, stopping, tracking
from ..assets import resolve_model_path
from ..attention import switch_attention_by_mode
from ..cards import write_model_card
from ..config import DataConfig, RecipeConfig, load_config, save_config
from ..config.training import TRAINING_DEFAULTS
from ..console import Progress, expected_new_head
from ..data import provenance
from ..dropout import training_attention, use_cpu_dropout
from ..errors import ConfigError, TrainingInterrupted
from ..hardware import environment
from ..launch import resolve_training_kwargs, run_launch, sharded_engine, whole_state_dict, world_size
from ..metrics import write_json
from ..rng import kept_random_state
from ..strategies import ParameterReport, Strategy, get_strategy, parameter_report
from ..strategies.frozen import frozen, hold_frozen_blocks_in_eval

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass
class RunResult:
    """What ``Recipe.run`` returns: where the output went and what it scored."""

    output_dir: Path
    metrics: dict[str, Any]
    parameters: ParameterReport
    log_history: list[dict[str, Any]] = field(default_factory=list)


def pretrained_kwargs(model_config: Any, model_class: Any = None, model_path: str = "") -> dict[str, Any]:
    """The ``from_pretrained`` keyword arguments every recipe passes for ``model.*`` settings (an explicit
    ``attn_implementation`` only: ``auto`` is handled after loading, see ``attention.py``). ``model_class`` /
    ``model_path``: what is loaded, so that k-bit loading keeps that class's head in full precision (kbit.py)."""
    kwargs: dict[str, Any] = {"revision": model_config.revision, "trust_remote_code": model_config.trust_remote_code,
                              "use_safetensors": None if model_config.allow_pickle else True}
    if model_config.attn_implementation != "auto":
        kwargs["attn_implementation"] = model_config.attn_implementation
    quantization = kbit.quantization_config(model_config, model_class, model_path, revision=model_config.revision,
                                            trust_remote_code=model_config.trust_remote_code)
    if quantization is not None:
        kwargs["quantization_config"] = quantization
    return kwargs


def convert_section(section: Any, cls: type) -> Any:
    """``section``'s values for the fields ``cls`` has, as a ``cls`` (validated by its ``__post_init__``)."""
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    return cls(**{name: value for name, value in vars(section).items() if name in names})


#: Files that hold a checkpoint's weights (pickled ones are refused unless model.allow_pickle).
PICKLED_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
WEIGHT_SUFFIXES = (".safetensors", ".gguf") + PICKLED_SUFFIXES


def check_model_source(name_or_path: str, allow_pickle: bool = False, param: str = "model.name_or_path") -> str:
    """Resolve ``builtin:`` names; a path that looks local must exist and hold safetensors weights (unless
    pickles are explicitly allowed); a Hub id is checked when loaded (``use_safetensors``)."""
    path = resolve_model_path(name_or_path)
    local = Path(path)
    if local.is_dir() and (local / "config.json").is_file() and not any(
            p.suffix in WEIGHT_SUFFIXES or p.name.endswith(".safetensors.index.json") for p in local.iterdir()):
        raise ConfigError(param, name_or_path, f"{path} has a config.json but no weights (no *.safetensors file); "
                          "point at the complete checkpoint directory (the one save_pretrained wrote).")
    if local.exists():
        pickled = [p.name for p in local.glob("*") if p.suffix in PICKLED_SUFFIXES]
        if pickled and not list(local.glob("*.safetensors")) and not allow_pickle:
            raise ConfigError("model.allow_pickle", False, f"{path} has only pickled weights ({', '.join(pickled[:3])}), "
                              "which can run arbitrary code when loaded; convert them to safetensors, or set "
                              "model.allow_pickle=true for a checkpoint you trust.")
        return path
    looks_local = path.startswith((".", "/", "~")) or os.sep + os.sep in path or not _HUB_ID.match(path)
    if looks_local or path.count("/") > 1:
        raise ConfigError(param, name_or_path, "no such local directory and not a Hub id; give an existing model "
                          "directory or a Hub id like 'bert-base-uncased'.")
    return path


class InterruptToCheckpoint(TrainerCallback):
    """First Ctrl-C (SIGINT) or SIGTERM: finish the current step, save a checkpoint, stop. A second one aborts.

    Why a callback: the Trainer already knows how to write a complete, resumable checkpoint (weights,
    optimizer groups, scheduler, RNG and data position); we only ask it to do so now.
    """

    def __init__(self) -> None:
        self.fired = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: Any) -> None:
            if self.fired:  # second signal: the user really wants out now
                raise KeyboardInterrupt
            self.fired = True
            print("\n[hf_transfer_kit] interrupt received: saving a checkpoint after this step "
                  "(interrupt again to abort without saving)", file=sys.stderr, flush=True)

        for sig in previous:
            signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.fired:
            control.should_save = True
            control.should_training_stop = True
        return control


class Recipe:
    """Base class of every task; subclasses set the task facts below and implement the task-specific steps."""

    # ---- what the task is: every other part of the kit asks these ------------------------------------------------
    #: The ``task:`` name in configs, also the Hub pipeline tag of the output unless ``pipeline_task`` says otherwise.
    task: ClassVar[str]
    #: Other ``task:`` names that select this task (a saved config records ``task``).
    aliases: ClassVar[tuple[str, ...]] = ()
    #: The pipeline task of the saved output when it is not ``task`` (a distilled student is a text classifier).
    pipeline_task: ClassVar[Optional[str]] = None
    #: What the model reads: 'text' or 'image' (the card's language tag, the snippet's example input).
    modality: ClassVar[str] = "text"
    #: This task's ``data`` section (a :class:`~hf_transfer_kit.config.DataConfig` subclass in ``config.py``).
    data_config: ClassVar[type] = DataConfig
    #: The transformers Auto class of the model, by name (``AutoModelForSequenceClassification``...).
    auto_model: ClassVar[str] = ""
    #: The transformers Auto class of the preprocessor, by name, and the keyword ``pipeline`` takes it under.
    auto_preprocessor: ClassVar[str] = "AutoTokenizer"
    preprocessor_arg: ClassVar[str] = "tokenizer"
    #: PEFT task type for adapters on this task's models (None where PEFT has none).
    peft_task_type: ClassVar[Optional[str]] = None
    #: The validation metric that picks the best checkpoint and drives early stopping, and whether higher is better.
    main_metric: ClassVar[tuple[str, bool]] = ("loss", False)
    #: Test metrics the card and its ``model-index`` report (metrics.json key -> label), in card order.
    card_metrics: ClassVar[dict[str, str]] = {}
    #: The argument(s) of the card's usage snippet call, as Python source.
    usage_example: ClassVar[str] = '"Replace this with your input."'
    #: True when the model's loss is a mean over examples that ignores ``num_items_in_batch`` (classification).
    #: Trainer otherwise multiplies the loss by the number of processes (token-averaging across devices),
    #: which doubles the effective learning rate of a 2-process classification run.
    per_example_mean_loss: ClassVar[bool] = True
    #: True when evaluation during training reports the loss only (never gathering tokens x vocabulary logits).
    loss_only: ClassVar[bool] = False

    @classmethod
    def model_class(cls) -> Any:
        """The transformers Auto class named by ``auto_model``."""
        return getattr(transformers, cls.auto_model)

    @classmethod
    def output_task(cls) -> str:
        """The pipeline task of the saved model (its card's ``pipeline_tag``)."""
        return cls.pipeline_task or cls.task

    @classmethod
    def card_template(cls) -> Path:
        """The model-card Jinja template: ``card.md`` in the task's folder (a subclass elsewhere inherits its base's)."""
        for klass in cls.__mro__:
            if issubclass(klass, Recipe) and klass is not Recipe:
                path = Path(inspect.getfile(klass)).parent / "card.md"
                if path.is_file():
                    return path
        raise ConfigError("task", cls.task, f"has no model card template; add card.md next to {inspect.getfile(cls)}.")

    @classmethod
    def result_metrics(cls, config: RecipeConfig) -> dict[str, str]:
        """The test metrics the card reports for a run of this task (classification: per ``model.problem_type``)."""
        return dict(cls.card_metrics)

    @classmethod
    def card_snippet(cls, run: Any, model_id: str, merged: bool) -> Optional[str]:
        """The card's "How to use" code when this task needs its own (None: the cards' pipeline / PEFT snippet)."""
        return None

    def __init__(self, config: Optional[RecipeConfig] = None, *, train_dataset: Any = None, eval_dataset: Any = None,
                 test_dataset: Any = None, callbacks: Sequence[Any] = ()) -> None:
        self.config = copy.deepcopy(config) if config is not None else RecipeConfig(task=self.task)
        self.config.task = self.task  # the class decides (an alias, `pretrain`, is saved under the pipeline tag)
        if not isinstance(self.config.data, self.data_config):  # e.g. a default config given to another task's class
            self.config.data = convert_section(self.config.data, self.data_config)
        data = self.config.data
        self.in_memory = {data.train_split: train_dataset, data.validation_split: eval_dataset,
                          data.test_split: test_dataset} if train_dataset is not None else {}
        data.resolve_sources(in_memory=bool(self.in_memory))  # the config names what the run really reads
        self.callbacks = list(callbacks)
        self.trainer: Any = None
        #: Set by a caller that publishes the output itself after ``run`` (``hf-transfer-kit train``).
        self.pushed_by_caller = False
        #: The whole weights while ``save`` runs, when an engine shards parameters (``launch.whole_state_dict``).
        self.whole_weights: Optional[dict[str, Any]] = None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: Sequence[str] = (), **kwargs: Any) -> Recipe:
        return cls(load_config(path, overrides), **kwargs)

    # ---- task-specific steps ------------------------------------------------------------------
    def load_data(self) -> tuple[Any, list[str]]:
        """Return (DatasetDict with train/validation/test, label names)."""
        raise NotImplementedError

    def load_preprocessor(self, model_path: str) -> Any:
        """Tokenizer / image processor for ``model_path`` (also used to reload a saved run's copy)."""
        raise NotImplementedError

    @classmethod
    def build_model(cls, model_path: str, label_names: list[str], model_config: Any, preprocessor: Any) -> Any:
        """The pretrained backbone with a new head for ``label_names``; shared by training and adapter reloading."""
        raise NotImplementedError

    @classmethod
    def load_saved_model(cls, directory: str) -> Any:
        """A saved full / partial fine-tune (a standalone transformers model of ``auto_model``)."""
        return cls.model_class().from_pretrained(directory)

    @classmethod
    def load_saved_preprocessor(cls, directory: str) -> Any:
        return getattr(transformers, cls.auto_preprocessor).from_pretrained(directory)

    def load_model(self, model_path: str, label_names: list[str]) -> Any:
        with expected_new_head():  # the kit replaces the head: transformers' report of it missing is expected
            return self.build_model(model_path, label_names, self.config.model, self.tokenizer)

    # ---- a saved run: what inference, `predict` and `evaluate` ask the task ------------------------------------
    @classmethod
    def pipeline(cls, model: Any, preprocessor: Any, config: RecipeConfig) -> Any:
        """A ``transformers.pipeline`` (or the same call shape) over a loaded run (:func:`~hf_transfer_kit.load_pipeline`)."""
        return transformers.pipeline(cls.output_task(), model=model, **{cls.preprocessor_arg: preprocessor})

    @classmethod
    def predict_saved(cls, run_dir: str | os.PathLike, model: Any, preprocessor: Any, config: RecipeConfig,
                      inputs: list[str], **options: Any) -> list[dict[str, Any]]:
        """One JSON-ready row per input (``hf-transfer-kit predict``); ``options`` are the command's task options."""
        pipe = cls.pipeline(model, preprocessor, config)
        return [{"input": text[:80], "output": result} for text, result in zip(inputs, pipe(list(inputs)))]

    @classmethod
    def evaluate_saved(cls, run_dir: str | os.PathLike, model: Any, preprocessor: Any, config: RecipeConfig,
                       file: Optional[str] = None, max_samples: Optional[int] = None) -> dict[str, Any]:
        """Re-score a saved run (``hf-transfer-kit evaluate``) on its own test split, or on every example of ``file``:
        the task's own data loading, preprocessing and final evaluation, with the loaded model in a plain Trainer."""
        import tempfile

        recipe = cls(config)
        recipe.config.data = recipe.config.data.scoring(file, max_samples)
        if not file and not recipe.has_data_source():
            raise ConfigError("--file", None, "this run was trained on in-memory data, so it has no test split to "
                              "re-score; give the examples to score with --file (csv / json / jsonl / parquet).")
        with tempfile.TemporaryDirectory(prefix="hf_transfer_kit-evaluate-") as tmp:
            recipe.config.training["report_to"] = "none"  # re-scoring a saved run is not a run to track
            recipe.args = recipe.training_arguments(Path(tmp))
            recipe.tokenizer = preprocessor
            splits, names = recipe.load_data()
            recipe.label_names = list(config.data.label_names or names)
            scored = splits["train"] if file else splits["test"]  # a file is scored whole (nothing carved out)
            if max_samples:
                scored = scored.select(range(min(max_samples, len(scored))))
            # only the scored examples are preprocessed; every split name a task's preprocess reads points at them
            recipe.splits = splits = type(splits)({name: scored for name in ("train", "validation", "test")})
            recipe.datasets = recipe.preprocess(splits)
            recipe.model = model
            recipe.trainer = transformers.Trainer(model=model, args=recipe.args, eval_dataset=recipe.datasets["test"],
                                                  processing_class=preprocessor, data_collator=recipe.data_collator(),
                                                  compute_metrics=None if cls.loss_only else recipe.compute_metrics)
            for printer in (transformers.ProgressCallback, transformers.PrinterCallback):
                recipe.trainer.remove_callback(printer)  # standard output carries the scores only
            return recipe.final_evaluation("test")

    def data_provenance(self) -> dict[str, Any]:
        """What the run was trained on, for metrics.json and the card (files with their content hashes)."""
        sizes = {split: len(ds) for split, ds in self.in_memory.items() if ds is not None}
        return provenance.describe(self.config.data, sizes)

    def input_paths(self) -> dict[str, Optional[str]]:
        """The user's files this run reads ({parameter: path}): never inside an output the run replaces."""
        data = self.config.data
        paths = {f"data.{name}": getattr(data, name, None) for name in provenance.FILE_PARAMS}
        model = self.config.model.name_or_path
        if not model.startswith("builtin:") and Path(model).expanduser().exists():
            paths["model.name_or_path"] = model
        return paths

    def has_data_source(self) -> bool:
        """Whether the config names data that can be read again (not only in-memory datasets)."""
        data = self.config.data
        return bool(data.dataset) or any(getattr(data, name, None) for name in provenance.FILE_PARAMS)

    def preprocess(self, splits: Any) -> Any:
        raise NotImplementedError

    def data_collator(self) -> Any:
        return None

    def loss_function(self) -> Any:
        """The Trainer's ``compute_loss_func(outputs, labels, num_items_in_batch)``, or None for the model's own loss
        (single-label heads: class weights, :mod:`hf_transfer_kit.problems.class_weights`)."""
        return None

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        raise NotImplementedError

    def final_evaluation(self, split: str) -> dict[str, Any]:
        """Metrics on ``split`` for metrics.json (the task may add e.g. a confusion matrix)."""
        return self.trainer.evaluate(self.datasets[split], metric_key_prefix=split)

    def unaugmented(self, split: str) -> Any:
        """``split`` as the model reads it, without random augmentation (the linear probe's cached features)."""
        return self.datasets[split]

    def caches_features(self) -> bool:
        """Whether the head trains on cached features (``probe.py``): a linear probe with one head, one process."""
        return bool(getattr(self.config.strategy, "cache_features", False)) and world_size() == 1 and \
            probe.head_of(self.training_module()) is not None

    def best_metric(self) -> tuple[str, bool]:
        """(validation metric, higher is better) that picks the best checkpoint and drives early stopping."""
        return self.main_metric

    def baselines(self) -> dict[str, float]:
        """Scores that make the fine-tuned number meaningful (computed before training)."""
        return {}

    def baselines_skipped(self) -> bool:
        """Under DeepSpeed an evaluation before training leaves the Trainer without its training engine
        (transformers builds an inference engine and ``train`` then finds no optimizer to step): no baselines."""
        if sharded_engine(self.args) != "deepspeed":
            return False
        if self.args.process_index == 0:
            print("[hf_transfer_kit] baselines skipped under DeepSpeed (an evaluation before training would leave "
                  "the Trainer without its training engine); run without DeepSpeed to get them.", flush=True)
        return True

    # ---- lifecycle ----------------------------------------------------------------------------
    def training_arguments(self, output_dir: Path, train_size: Optional[int] = None) -> Any:
        """TrainingArguments for this run; ``auto`` fields are resolved for ``train_size`` training examples (a
        placeholder until the data is loaded: see ``stopping.py``)."""
        from transformers import TrainingArguments

        cfg = self.config
        kwargs = resolve_training_kwargs(cfg.training, cfg.strategy.name, cfg.global_batch_size)
        per_step = kwargs.get("per_device_train_batch_size", 8) * world_size() * kwargs.get("gradient_accumulation_steps", 1)
        kwargs = stopping.resolve(kwargs, train_size, per_step, self.best_metric())
        kwargs = lr_find.placeholder(kwargs, cfg.strategy.name)
        kwargs = tracking.names(kwargs, cfg.output_dir, cfg.strategy.name)
        try:
            return TrainingArguments(output_dir=str(output_dir), **kwargs)
        except (TypeError, ValueError) as err:
            # Name the field TrainingArguments complained about when its message mentions one the user set.
            named = sorted((key for key in cfg.training if key in str(err)), key=lambda k: k in TRAINING_DEFAULTS)
            param = f"training.{named[0]}" if named else "training"
            value = cfg.training[named[0]] if named else dict(cfg.training)
            raise ConfigError(param, value, f"transformers.TrainingArguments rejected it: {err}. Change {param} "
                              "(fields and defaults: `hf-transfer-kit train --help`).") from err

    def setup(self) -> Recipe:
        """Everything that can fail on bad input runs here, before any output is written or step is taken."""
        cfg = self.config
        self.requested = copy.deepcopy(cfg)  # what --resume compares: the settings as given, before `auto` resolves
        outputs.check_output_dir(cfg.output_dir, cfg.overwrite_output_dir, cfg.resume, inputs=self.input_paths())
        if cfg.resume:
            resume_check.check(cfg, outputs.staging_dir(cfg.output_dir))
        model_path = check_model_source(cfg.model.name_or_path, cfg.model.allow_pickle)
        self.args = self.training_arguments(outputs.staging_dir(cfg.output_dir))
        self.strategy: Strategy = get_strategy(cfg.strategy, self.peft_task_type)
        self.strategy.check_training(self.args)
        kbit.check_engine(cfg.model, sharded_engine(self.args))
        with self.args.main_process_first(desc="load and preprocess data"):
            self.splits, self.label_names = self.load_data()
            self.tokenizer = self.load_preprocessor(model_path)
            self.datasets = self.preprocess(self.splits)
        if cfg.training.get("num_train_epochs") == "auto":  # the budget and cadence depend on the training size
            self.args = self.training_arguments(outputs.staging_dir(cfg.output_dir), len(self.datasets["train"]))
        from transformers import set_seed

        set_seed(self.args.seed)  # the new head (and any adapter) is initialised here, before the Trainer seeds
        model = kbit.prepare(self.load_model(model_path, self.label_names), self.args.gradient_checkpointing)
        switch_attention_by_mode(model, self.args.device, cfg.model.attn_implementation, self.args.bf16,
                                 training_attention(model, cfg.model.fast_dropout))  # attention.py, dropout.py
        if self.args.gradient_checkpointing:
            # With frozen embeddings nothing before the first checkpointed block requires grad, and reentrant
            # checkpointing would then drop every gradient. transformers does this itself only for models fed
            # `input_ids`; vision models (`pixel_values`) with a frozen stem need it from us.
            model.enable_input_require_grads()
        blocks = hold_frozen_blocks_in_eval(model) if cfg.strategy.frozen_blocks == "eval" else []
        self.model = self.strategy.apply(model)
        use_cpu_dropout(self.model, self.args.device, cfg.model.fast_dropout)  # after apply: LoRA's dropout too
        self.frozen_blocks = len(frozen(blocks))
        self.parameters = parameter_report(self.model)
        if self.args.process_index == 0:  # one line per run, not per rank
            print(f"[hf_transfer_kit] strategy={cfg.strategy.name} {self.parameters.summary()}", flush=True)
        outputs.check_disk_space(cfg.output_dir, self.output_bytes_estimate())
        self.interrupt = InterruptToCheckpoint()
        self.bn_tracker = batchnorm.Tracker(self.model)  # which batch norms update while training
        self.batch_norm: dict[str, Any] = {}
        self.probe_cost: dict[str, Any] = {}
        self.lr_found: dict[str, Any] = {}
        self.trainer = self.build_trainer()
        return self

    def build_trainer(self) -> Any:
        from transformers import Trainer

        trainer_cls: Any = Trainer
        if self.strategy.layer_schedule is not None:  # layer-wise learning rates / gradual unfreezing
            from ..strategies.layerwise import LayerwiseTrainer

            trainer_cls = functools.partial(LayerwiseTrainer, schedule=self.strategy.layer_schedule)
        trainer = trainer_cls(model=self.model, args=self.args, train_dataset=self.datasets["train"],
                              eval_dataset=self.datasets["validation"], processing_class=self.tokenizer,
                              data_collator=self.data_collator(),
                              compute_metrics=None if self.loss_only else self.compute_metrics,
                              compute_loss_func=self.loss_function(),
                              callbacks=[*self.callbacks, self.interrupt, *self.strategy.callbacks(),
                                         *filter(None, [stopping.callback(self.config.training)])])
        stopping.attach(trainer)
        tracking.attach(trainer, tracking.run_metadata(self.config, self.parameters),
                        list(self.result_metrics(self.config)), self.config.output_dir)
        if self.per_example_mean_loss:
            trainer.model_accepts_loss_kwargs = False
        if trainer.pop_callback(transformers.ProgressCallback) is not None:
            trainer.add_callback(Progress())  # one bar per phase, figures on the bar instead of printed dicts
        return trainer

    def output_bytes_estimate(self) -> int:
        """Disk the run will need: the saved model or adapter with its preprocessor files, card, plots and logs, plus
        each kept checkpoint (weights, optimizer state, the preprocessor again, RNG / scheduler / trainer state).
        The preprocessor and the fixed files dominate an adapter run (MiniLM's tokenizer is ~0.7 MB, its LoRA ~0.3 MB)."""
        import tempfile

        saved = 4 * (self.parameters.trainable if self.strategy.saves_adapter else self.parameters.total)
        with tempfile.TemporaryDirectory() as tmp:
            self.tokenizer.save_pretrained(tmp)
            preprocessor = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        fixed = 2 * 2**20  # card, plots, metrics, logs, config
        checkpoint = 0 if self.args.save_strategy == "no" else \
            saved + 8 * self.parameters.trainable + preprocessor + 2**20
        return int(1.2 * (saved + preprocessor + fixed + checkpoint * max(1, self.args.save_total_limit or 1)))

    def train(self) -> Any:
        """Trainer.train(), resuming from the last checkpoint with ``resume``; Ctrl-C saves a checkpoint first."""
        if self.trainer is None:
            self.setup()
        checkpoint = outputs.latest_checkpoint(self.config.output_dir) if self.config.resume else None
        resume_from = str(checkpoint) if checkpoint else None
        with self.interrupt.installed():
            if self.caches_features():
                output, self.probe_cost = probe.train_head(self, resume_from, self.find_learning_rate)
            else:
                self.find_learning_rate(self.trainer)
                output = self.trainer.train(resume_from_checkpoint=resume_from)
        if self.interrupt.fired:
            raise TrainingInterrupted(
                f"interrupted at step {self.trainer.state.global_step}; a checkpoint was saved in "
                f"{outputs.staging_dir(self.config.output_dir)}. Resume with the same command plus --resume "
                "(or resume=true).")
        if self.config.training.get("recompute_batch_norm", True):
            self.batch_norm = batchnorm.recompute(self.training_module(), self.bn_tracker, self.trainer)
        return output

    def find_learning_rate(self, trainer: Any) -> None:
        """``training.learning_rate: auto``: the range test on ``trainer`` (the head's, for a cached probe)."""
        if lr_find.is_auto(self.config.training):
            self.lr_found = lr_find.find(trainer, self.config.strategy.name, outputs.staging_dir(self.config.output_dir))

    def evaluate(self, split: str = "test") -> dict[str, Any]:
        """Score the model in memory on ``split`` (``train``, ``validation`` or ``test``)."""
        if self.trainer is None:
            self.setup()
        return self.final_evaluation(split)

    def run(self) -> RunResult:
        """setup -> (baselines) -> train -> evaluate -> save. Returns the scores and where they were saved."""
        self.setup()
        staging = outputs.begin(self.config.output_dir, self.config.resume) if self.args.should_save else \
            outputs.staging_dir(self.config.output_dir)
        if self.args.should_save:
            resume_check.record(self.requested, staging)
        try:
            with kept_random_state():  # the baselines must not change what trains after them
                base = self.baselines() if self.config.baselines and not self.baselines_skipped() else {}
            start = time.perf_counter()
            train_output = self.train()
            train_seconds = time.perf_counter() - start
            metrics = {"train": {**train_output.metrics, "wall_seconds": round(train_seconds, 2),
                                 "stopping": stopping.report(self.trainer.state, self.args, self.config.training,
                                                             self.trainer.callback_handler.callbacks),
                                 "frozen_blocks_in_eval": self.frozen_blocks,
                                 **({"linear_probe": self.probe_cost} if self.probe_cost else {}),
                                 **({"learning_rate_finder": lr_find.summary(self.lr_found, train_seconds)}
                                    if self.lr_found else {}),
                                 **({"batch_norm": self.batch_norm} if self.batch_norm else {})},
                       "test": self.evaluate("test"), "baselines": base, "data": self.data_provenance(),
                       "parameters": self.parameters.to_dict(),
                       "environment": {**environment(), "launch": run_launch(self.args)}}
            tracking.finish(self.trainer, metrics["test"])
            self.whole_weights = whole_state_dict(self.trainer)  # every rank: ZeRO-3 gathers its shards
            if self.args.should_save:
                self.save(staging, metrics)
            self.whole_weights = None
            self.args_barrier()
            out = outputs.commit(staging, self.config.output_dir) if self.args.should_save else Path(self.config.output_dir)
        except OSError as err:
            if err.errno != errno.ENOSPC or not self.args.should_save:
                raise
            kept = not outputs.abort(staging)
            raise ConfigError("output_dir", self.config.output_dir, f"the disk filled up while the run wrote its "
                              f"output ({err.strerror}); free some space and rerun"
                              + (f" with --resume (the last checkpoint is kept in {staging})." if kept else
                                 " (nothing was left behind).")) from err
        except BaseException:
            if self.args.should_save and not outputs.abort(staging) and not isinstance(sys.exc_info()[1],
                                                                                        TrainingInterrupted):
                print(f"[hf_transfer_kit] the run failed; its last checkpoint is kept in {staging}: rerun with "
                      "--resume to continue from it.", file=sys.stderr, flush=True)
            raise
        if self.config.hub.push_to_hub and self.args.should_save and not self.pushed_by_caller:
            print(f"[hf_transfer_kit] hub.push_to_hub is set: the recipe does not publish; push {out} with "
                  f"`hf-transfer-kit push {out}` or hf_transfer_kit.hub.push_output (`hf-transfer-kit train` does "
                  "both steps).", file=sys.stderr, flush=True)
        return RunResult(out, metrics, self.parameters, list(self.trainer.state.log_history))

    def training_module(self) -> Any:
        """The model being trained without Accelerate's distributed wrappers, but with its mixed-precision forward:
        what the run's own evaluation still calls (``trained_model`` strips that forward, for saving)."""
        return self.trainer.accelerator.unwrap_model(self.trainer.model)

    def trained_model(self) -> Any:
        """The model being trained, without Accelerate's wrappers (incl. the mixed-precision forward), so it
        computes exactly what the saved output will compute when reloaded."""
        return self.trainer.accelerator.unwrap_model(self.trainer.model, keep_fp32_wrapper=False)

    def args_barrier(self) -> None:
        """Wait for every process before the main one publishes the output (no-op on one process)."""
        self.trainer.accelerator.wait_for_everyone()

    def resolved_config(self) -> RecipeConfig:
        """The config as run: label names filled in, so the output reloads without the original data."""
        resolved = copy.deepcopy(self.config)
        resolved.data.label_names = list(self.label_names)
        resolved.model.num_labels = len(self.label_names)
        return resolved

    def save(self, directory: Path, metrics: dict[str, Any]) -> None:
        self.strategy.save(self.trained_model(), directory, self.whole_weights)
        self.tokenizer.save_pretrained(str(directory))
        save_config(self.resolved_config(), directory)
        write_json(metrics, directory / "metrics.json")
        (directory / "log_history.json").write_text(json.dumps(self.trainer.state.log_history, indent=1))
        write_model_card(directory, *self.card_record(metrics), self.trainer.state.log_history)

    def card_record(self, metrics: dict[str, Any]) -> tuple[RecipeConfig, dict[str, Any]]:
        """The config and metrics the model card reports (a sweep trial reports its validation scores instead)."""
        return self.resolved_config(), metrics

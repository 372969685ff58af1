"""Train until it stops improving: ``training.num_train_epochs: auto`` and early stopping.

A fixed epoch count suits the data set it was tuned on. ``auto`` instead gives a generous budget, evaluates on the
validation split at a cadence that suits the data size, stops after ``early_stopping_patience`` evaluations without
improvement of the task's main metric, and restores the best checkpoint (``load_best_model_at_end``). The stopping
itself is transformers' ``EarlyStoppingCallback``; its counter is part of every checkpoint, so ``--resume`` goes on
counting where the run stopped.

The rule, in numbers (module constants below):

* budget: ``ceil(AUTO_EXAMPLES / n_train)`` epochs, at least ``MIN_EPOCHS`` and at most ``MAX_EPOCHS`` -- about
  AUTO_EXAMPLES examples seen for small data sets, a few passes for large ones;
* cadence: once per epoch, or every ``EVAL_EVERY_MAX_STEPS`` optimizer steps when an epoch is longer than that;
* patience: ``AUTO_PATIENCE`` evaluations, unless ``training.early_stopping_patience`` says otherwise;
* plateaus (opt-in, ``training.lr_plateau_factor: 0.5``): each evaluation that does not improve multiplies the
  learning rate by the factor. The linear schedule decays over the whole budget, so when early stopping ends a run at
  a fifth of it the rate has hardly decayed: the model never gets the annealing a fixed, shorter schedule gives it.
  Lowering the rate on each plateau anneals when the score stalls (as ``ReduceLROnPlateau`` with ``patience=0``) and
  stays in the scheduler's state, so resume keeps it. Not on by default: it has not been judged on the evaluation
  suite (docs/defaults.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Optional

from .config.training import KIT_TRAINING_FIELDS
from .errors import ConfigError

AUTO_EXAMPLES = 12_000
MIN_EPOCHS = 3
MAX_EPOCHS = 20
EVAL_EVERY_MAX_STEPS = 250
AUTO_PATIENCE = 3


def resolve(training: Mapping[str, Any], train_size: Optional[int], batch_per_step: int,
            best_metric: tuple[str, bool]) -> dict[str, Any]:
    """``training`` as TrainingArguments keywords: ``auto`` resolved for ``train_size`` examples (a placeholder of one
    epoch while the size is unknown), the kit's own fields taken out, and best-checkpoint selection switched on
    when early stopping is."""
    kwargs = {k: v for k, v in training.items() if k not in KIT_TRAINING_FIELDS}
    auto = kwargs.get("num_train_epochs") == "auto"
    patience = patience_of(training)
    if auto:
        if train_size is None or (kwargs.get("max_steps", -1) > 0 and not patience):
            kwargs["num_train_epochs"] = 1  # a placeholder: the size is not known yet, or max_steps decides alone
            return kwargs
        if kwargs.get("eval_strategy") == "no":
            raise ConfigError("training.eval_strategy", "no", "num_train_epochs: auto stops on the validation "
                              "scores, so it needs evaluation; remove eval_strategy, or give a number of epochs.")
        steps_per_epoch = max(1, math.ceil(train_size / batch_per_step))
        kwargs["num_train_epochs"] = min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(AUTO_EXAMPLES / train_size)))
        every = steps_per_epoch if steps_per_epoch <= EVAL_EVERY_MAX_STEPS else \
            math.ceil(steps_per_epoch / math.ceil(steps_per_epoch / EVAL_EVERY_MAX_STEPS))
        kwargs.update(eval_strategy="steps", eval_steps=every, save_strategy="steps", save_steps=every)
    if patience:
        if kwargs.get("eval_strategy") == "no":
            raise ConfigError("training.early_stopping_patience", patience, "early stopping needs evaluation on the "
                              "validation split; remove eval_strategy: no, or early_stopping_patience.")
        if kwargs.get("save_strategy") != kwargs.get("eval_strategy") and kwargs.get("save_strategy") != "best":
            kwargs["save_strategy"] = kwargs.get("eval_strategy")  # the best checkpoint must be saved to be restored
            if kwargs.get("eval_strategy") == "steps":
                kwargs.setdefault("save_steps", kwargs.get("eval_steps"))
        metric, greater = best_metric
        kwargs.setdefault("load_best_model_at_end", True)
        kwargs.setdefault("metric_for_best_model", metric)
        kwargs.setdefault("greater_is_better", greater)
        kwargs.setdefault("restore_callback_states_from_checkpoint", True)  # the patience counter resumes too
    return kwargs


def patience_of(training: Mapping[str, Any]) -> Optional[int]:
    """The early-stopping patience of a run: the field, or ``AUTO_PATIENCE`` with ``num_train_epochs: auto`` -- except
    when a fixed ``max_steps`` runs without evaluation, where there is nothing to stop on."""
    if training.get("early_stopping_patience"):
        return int(training["early_stopping_patience"])
    if training.get("num_train_epochs") != "auto":
        return None
    if training.get("max_steps", -1) > 0 and training.get("eval_strategy") == "no":
        return None
    return AUTO_PATIENCE


def plateau_factor_of(training: Mapping[str, Any]) -> Optional[float]:
    """The factor the learning rate is multiplied by after an evaluation without improvement (where early stopping
    runs), or None: off."""
    factor = training.get("lr_plateau_factor")
    return float(factor) if factor is not None and float(factor) < 1.0 and patience_of(training) else None


def callback(training: Mapping[str, Any]) -> Any:
    """transformers' ``EarlyStoppingCallback`` for this run (with the plateau halving), or None when early stopping
    is off."""
    from transformers import EarlyStoppingCallback

    class EarlyStopping(EarlyStoppingCallback):
        """Counts only the validation evaluations (the baseline and test scores carry other prefixes), and lowers the
        learning rate after each one that did not improve."""

        #: Set by attach() on the class, not the instance: resuming replaces the callback by a new instance built
        #: from its saved args (Trainer._load_callback_state), which must still find the Trainer.
        trainer: Any = None

        def __init__(self, *args: Any, lr_plateau_factor: Optional[float] = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.lr_plateau_factor = lr_plateau_factor
            self.lr_reductions = 0

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any, lr_scheduler: Any = None,
                        **kwargs: Any) -> None:
            name = args.metric_for_best_model
            if (name if name.startswith("eval_") else f"eval_{name}") not in metrics:
                return
            before = self.early_stopping_patience_counter
            super().on_evaluate(args, state, control, metrics, **kwargs)
            stalled = self.early_stopping_patience_counter > before
            scheduler = lr_scheduler or getattr(self.trainer, "lr_scheduler", None)
            if stalled and self.lr_plateau_factor and scheduler is not None and not control.should_training_stop:
                scale_schedule(scheduler, self.lr_plateau_factor)
                self.lr_reductions += 1

        def state(self) -> dict:
            out = super().state()
            out["args"]["lr_plateau_factor"] = self.lr_plateau_factor
            out["attributes"]["lr_reductions"] = self.lr_reductions
            return out

    patience = patience_of(training)
    if not patience:
        return None
    return EarlyStopping(early_stopping_patience=patience,
                         early_stopping_threshold=float(training.get("early_stopping_threshold") or 0.0),
                         lr_plateau_factor=plateau_factor_of(training))


def attach(trainer: Any) -> None:
    """Give the run's early-stopping callback the Trainer whose schedule it lowers on plateaus (the Trainer builds
    its scheduler in ``train``, and transformers 5 passes callbacks the one it had at construction: None)."""
    for cb in trainer.callback_handler.callbacks:
        if hasattr(cb, "lr_reductions"):
            type(cb).trainer = trainer  # a class made for this run alone (callback())


def scale_schedule(lr_scheduler: Any, factor: float) -> None:
    """Multiply the rest of the schedule by ``factor``: a LambdaLR-style scheduler computes each step's rate as
    ``base_lr x lambda(step)``, so scaling ``base_lrs`` (part of its state_dict, hence of every checkpoint) scales
    every later step; the current rate follows at once."""
    scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # Accelerate wraps it
    scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]
    for group in scheduler.optimizer.param_groups:
        group["lr"] *= factor
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]  # what the Trainer logs


def lr_reductions(callbacks: Any) -> int:
    """How often the run's early-stopping callback lowered the learning rate."""
    return sum(getattr(cb, "lr_reductions", 0) for cb in callbacks)


def report(state: Any, args: Any, training: Mapping[str, Any], callbacks: Any = ()) -> dict[str, Any]:
    """How long the run trained, why it stopped and how often the rate was lowered, for metrics.json and the card."""
    budget_steps = state.max_steps
    out: dict[str, Any] = {"epochs_trained": round(float(state.epoch or 0.0), 2), "steps": state.global_step,
                           "budget_epochs": float(args.num_train_epochs) if args.max_steps <= 0 else None,
                           "budget_steps": budget_steps, "auto": training.get("num_train_epochs") == "auto"}
    if args.load_best_model_at_end and state.best_global_step:
        steps_per_epoch = state.global_step / max(float(state.epoch or 1.0), 1e-9)
        out.update(best_step=state.best_global_step, best_epoch=round(state.best_global_step / steps_per_epoch, 2),
                   best_metric=args.metric_for_best_model, best_value=state.best_metric)
    patience = patience_of(training)
    if patience and state.global_step < budget_steps:
        out["stopped"] = (f"early stopping: validation {args.metric_for_best_model} did not improve for {patience} "
                          "evaluations")
    else:
        out["stopped"] = "the step budget was reached"
    if plateau_factor_of(training):
        out["lr_plateau_factor"] = plateau_factor_of(training)
        out["lr_reductions"] = lr_reductions(callbacks)
    return out

"""Discriminative (layer-wise decayed) learning rates and ULMFiT-style gradual unfreezing, for ``full`` / ``partial``.

Why: the bottom of a pretrained network holds the most general features and the head none at all, so the
bottom should move least (Howard & Ruder 2018, "discriminative fine-tuning"; Clark et al. 2020 and most BERT
fine-tuning recipes since: *layer-wise learning-rate decay*, LLRD), and unfreezing top-down, one layer group
at a time, lets the new head settle before its gradients reach the pretrained layers ("gradual unfreezing").

Depth counts from the top: 0 = the task head plus the backbone's parameters outside the layer stack and the
embeddings (BERT's pooler, a final norm); 1 = the top layer of the stack (``anatomy.layer_stack``); ...;
N = its bottom layer; N + 1 = the embeddings. Depth d gets ``learning_rate * layer_lr_decay ** d``. With
``unfreeze``, the k-th depth from the top that has trainable parameters (k = 0: the head) starts training after
``k * unfreeze_every`` optimizer steps (``step``) or epochs (``epoch``); what the strategy froze stays frozen.

How it plugs into the Trainer, and why it is right under resume and Accelerate:

* **One optimizer, built once.** :class:`LayerwiseTrainer` overrides ``create_optimizer`` with one parameter
  group per (depth, weight decay yes/no) over *every* parameter that will ever train, still-frozen ones
  included, each group with its own ``lr``; Trainer's optimizer class and weight-decay rules (no decay on
  bias / norms) are kept. The groups never change, so a checkpoint's optimizer state loads into the same
  structure on resume, and the LR scheduler (a ``LambdaLR``) scales each group's own initial lr.
* **The frozen set is derived, not stored.** Which depths train is a function of ``TrainerState``
  (``global_step`` or ``epoch``), so a resumed run recomputes it from its restored state.
* **One process:** the :class:`GradualUnfreezing` callback sets ``requires_grad``; backward then stops at the
  lowest unfrozen layer (cheaper), and the optimizer skips parameters whose gradient is None.
* **DDP (several processes):** DDP all-reduces only the parameters that require grad *when it wraps the
  model*, before the first step; a parameter unfrozen later would train on each rank's own gradient and the
  replicas would silently drift apart. So under DDP every parameter that will ever train keeps
  ``requires_grad=True`` (gradients flow and are all-reduced) and :meth:`LayerwiseTrainer.training_step`
  drops (sets to None) the gradients of still-frozen parameters right after each backward -- before clipping,
  so the clipping norm and the optimizer see exactly what a one-process run sees.
* **DeepSpeed ZeRO (1-3) and FSDP2**: the parameter groups carry the layer-wise rates (ZeRO keeps each group's
  ``lr``; tests/test_distributed.py runs it under ZeRO-2 and ZeRO-3). Gradual unfreezing is refused there: the
  engine builds its gradient and optimizer partitions once, from what requires grad when it wraps the model, and
  reduces gradients inside backward, where neither mechanism above reaches. FSDP v1 without ``use_orig_params``
  flattens parameters and loses the groups: refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from torch import nn
from transformers import Trainer, TrainerCallback

from ..errors import ConfigError
from ..launch import fsdp_flattens, sharded_engine
from .anatomy import embedding_module_names, layer_stack
from .base import StrategyConfig

UNFREEZE_MODES = ("step", "epoch")


@dataclass
class LayerwiseConfig(StrategyConfig):
    """Fields shared by ``full`` and ``partial`` (and the presets built on ``partial``)."""

    layer_lr_decay: float = field(default=1.0, metadata={
        "help": "Layer-wise LR decay: depth d from the top (0 = head, 1 = top layer, ..., N+1 = embeddings) trains "
                "at learning_rate * layer_lr_decay**d. 1.0 = one learning rate; 0.8-0.95 is typical."})
    unfreeze: Optional[str] = field(default=None, metadata={
        "help": "Gradual unfreezing (ULMFiT): 'step' or 'epoch' to start with only the head training and unfreeze "
                "one more layer, top-down, every unfreeze_every steps / epochs (embeddings last). null = off."})
    unfreeze_every: int = field(default=1, metadata={
        "help": "Optimizer steps (unfreeze=step) or epochs (unfreeze=epoch) between two unfreezings."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.layer_lr_decay <= 1:
            raise ConfigError("strategy.layer_lr_decay", self.layer_lr_decay,
                              "use a factor in (0, 1], e.g. 0.9; 1.0 gives every layer the same learning rate.")
        if self.unfreeze is not None and self.unfreeze not in UNFREEZE_MODES:
            raise ConfigError("strategy.unfreeze", self.unfreeze, f"use one of {', '.join(UNFREEZE_MODES)} or null.")
        if self.unfreeze_every < 1:
            raise ConfigError("strategy.unfreeze_every", self.unfreeze_every, "use a positive whole number, e.g. 1.")
        if self.unfreeze is None and self.unfreeze_every != 1:
            raise ConfigError("strategy.unfreeze_every", self.unfreeze_every,
                              "has no effect without strategy.unfreeze; set strategy.unfreeze=step or epoch, or "
                              "remove it.")

    @property
    def layerwise(self) -> bool:
        """True when either option is on (otherwise the Trainer's own optimizer and no callback are used)."""
        return self.layer_lr_decay != 1.0 or self.unfreeze is not None

    def layerwise_setting(self) -> tuple[str, Any]:
        """(parameter, value) an error about the options names: the decay where set, else ``unfreeze``."""
        if self.layer_lr_decay != 1.0:
            return "strategy.layer_lr_decay", self.layer_lr_decay
        return "strategy.unfreeze", self.unfreeze


@dataclass
class LayerSchedule:
    """Depth of every parameter that will ever train, and when each depth trains at which learning rate."""

    depths: dict[str, int]
    #: A readable name per depth: ``classifier + bert.pooler``, ``bert.encoder.layer.5``, ..., ``bert.embeddings``.
    labels: list[str]
    layer_lr_decay: float = 1.0
    unfreeze: Optional[str] = None
    unfreeze_every: int = 1

    @property
    def stages(self) -> list[int]:
        """The depths that hold trainable parameters, top-down: the order of unfreezing (a depth the strategy froze
        whole, such as frozen embeddings, is skipped rather than costing a phase)."""
        return sorted(set(self.depths.values()))

    def lr_scale(self, depth: int) -> float:
        return self.layer_lr_decay ** depth

    def trainable_depth(self, state: Any) -> int:
        """The deepest depth that trains at ``state`` (all of them without ``unfreeze``)."""
        stages = self.stages
        if self.unfreeze is None:
            return stages[-1]
        # ``epoch`` is step / steps_per_epoch (a float): round off the last bits before flooring.
        elapsed = state.global_step if self.unfreeze == "step" else math.floor(round(state.epoch or 0.0, 6))
        return stages[min(elapsed // self.unfreeze_every, len(stages) - 1)]

    def frozen_names(self, state: Any) -> set[str]:
        depth = self.trainable_depth(state)
        return {name for name, d in self.depths.items() if d > depth}

    def stage_labels(self, shallowest: int = 0, deepest: Optional[int] = None) -> list[str]:
        return [self.labels[d] for d in self.stages if shallowest <= d and (deepest is None or d <= deepest)]

    def describe(self) -> str:
        lrs = ", ".join(f"{self.labels[d]} x{self.lr_scale(d):.3g}" for d in self.stages)
        unfreeze = (f"; unfreeze one depth every {self.unfreeze_every} {self.unfreeze}(s), top-down"
                    if self.unfreeze else "")
        return f"layer-wise learning rates: {lrs}{unfreeze}"

    def parameter_groups(self, model: nn.Module, decay_names: set[str], learning_rate: float,
                         weight_decay: float) -> list[dict[str, Any]]:
        """Optimizer groups, head first (so the lr Trainer logs is the base lr), deeper groups after."""
        params = dict(model.named_parameters())
        missing = sorted(set(self.depths) - set(params))
        if missing:
            raise RuntimeError(f"layer schedule names parameters the model lacks: {missing[:3]}")
        groups = []
        for depth, label in enumerate(self.labels):
            names = [n for n, d in self.depths.items() if d == depth]
            for decays in (True, False):
                chosen = [params[n] for n in names if (n in decay_names) == decays]
                if chosen:
                    groups.append({"params": chosen, "lr": learning_rate * self.lr_scale(depth),
                                   "weight_decay": weight_decay if decays else 0.0, "layer": label, "depth": depth})
        return groups


def build_schedule(model: nn.Module, config: LayerwiseConfig) -> Optional[LayerSchedule]:
    """The schedule over the parameters ``model`` has left trainable (after the strategy froze its part)."""
    if not config.layerwise:
        return None
    param, value = config.layerwise_setting()
    try:
        stack_name, stack = layer_stack(model)
    except ValueError as err:
        raise ConfigError(param, value, f"{err} Remove {param} for this model.") from err
    embeddings = embedding_module_names(model)
    n = len(stack)
    depths: dict[str, int] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue  # frozen by the strategy for the whole run: never in the optimizer
        if any(name == e or name.startswith(e + ".") for e in embeddings):
            depths[name] = n + 1
        elif name.startswith(stack_name + "."):
            depths[name] = n - int(name[len(stack_name) + 1:].split(".", 1)[0])
        else:
            depths[name] = 0
    if not any(d > 0 for d in depths.values()):
        raise ConfigError(param, value, "only the head trains here, so there are no layers to give their own "
                          "learning rate or unfreeze; remove it, or freeze fewer parameters.")
    prefix = getattr(model, "base_model_prefix", "")
    top = sorted({".".join(name.split(".")[:2 if prefix and name.startswith(prefix + ".") else 1])
                  for name, d in depths.items() if d == 0}, key=lambda m: (m.startswith(prefix + "."), m))
    labels = [" + ".join(top) or "head", *(f"{stack_name}.{n - d}" for d in range(1, n + 1)),
              " + ".join(embeddings) or "embeddings"]  # top: the head, plus e.g. bert.pooler
    return LayerSchedule(depths, labels, config.layer_lr_decay, config.unfreeze, config.unfreeze_every)


def check_training_args(config: LayerwiseConfig, args: Any) -> None:
    """Refuse launchers that keep gradients where neither unfreezing mechanism reaches (before the model loads)."""
    if not config.layerwise:
        return
    engine = sharded_engine(args)
    if engine is None:
        return
    if config.unfreeze is not None:
        raise ConfigError("strategy.unfreeze", config.unfreeze, f"gradual unfreezing does not run under {engine}: the "
                          "engine builds its sharded gradient and optimizer partitions once, from the parameters "
                          "that require grad when it wraps the model, and reduces gradients inside backward, so a "
                          "layer can neither join later nor have its gradient dropped after the reduction (how DDP "
                          "runs do it). Launch with DDP (recipes/accelerate/multi_gpu.yaml), or keep "
                          "strategy.layer_lr_decay alone, which runs under DeepSpeed ZeRO and FSDP2.")
    if engine == "fsdp" and fsdp_flattens(getattr(args, "fsdp", None), getattr(args, "fsdp_config", None)):
        raise ConfigError(*config.layerwise_setting(), "FSDP v1 flattens each unit's parameters into one tensor, so "
                          "layers cannot have their own learning rates; use FSDP v2 (recipes/accelerate/fsdp.yaml) "
                          "or set training.fsdp_config.use_orig_params=true.")


def _toggles_requires_grad(args: Any) -> bool:
    """One process: freeze by ``requires_grad``. DDP: keep it on and drop frozen gradients (module docstring)."""
    return args.world_size <= 1


def _span(labels: list[str]) -> str:
    return ", ".join(labels) if len(labels) <= 2 else f"{labels[0]} .. {labels[-1]}"


class GradualUnfreezing(TrainerCallback):
    """Sets ``requires_grad`` from the schedule at every step (one process) and reports each unfreezing."""

    def __init__(self, schedule: LayerSchedule) -> None:
        self.schedule = schedule
        self.depth: Optional[int] = None

    def _update(self, args: Any, state: Any, model: nn.Module) -> None:
        depth = self.schedule.trainable_depth(state)
        if depth == self.depth:
            return
        self.depth = depth
        if _toggles_requires_grad(args):
            for name, p in model.named_parameters():
                if name in self.schedule.depths:
                    p.requires_grad_(self.schedule.depths[name] <= depth)
        if args.process_index == 0:
            frozen = self.schedule.stage_labels(depth + 1)
            print(f"[hf_transfer_kit] gradual unfreezing at step {state.global_step}: training "
                  f"{_span(self.schedule.stage_labels(0, depth))}" + (f"; frozen: {_span(frozen)}" if frozen else
                                                                     " (all of it)"), flush=True)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.depth = None
        self._update(args, state, model)
        end = self.schedule.trainable_depth(_EndState(state.max_steps, state.num_train_epochs))
        never = self.schedule.stage_labels(end + 1)
        if never and args.process_index == 0:
            print(f"[hf_transfer_kit] warning: in {state.max_steps} steps gradual unfreezing reaches only "
                  f"{self.schedule.labels[end]}; {_span(never)} never train. Lower strategy.unfreeze_every or train "
                  "longer.", flush=True)

    def on_epoch_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._update(args, state, model)

    def on_step_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._update(args, state, model)

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        """Leave the model as the strategy set it up (every scheduled parameter trainable)."""
        for name, p in model.named_parameters():
            if name in self.schedule.depths:
                p.requires_grad_(True)
        self.depth = None


@dataclass
class _EndState:
    """The state at the last optimizer step (to warn about depths that never unfreeze)."""

    max_steps: int
    num_train_epochs: float

    @property
    def global_step(self) -> int:
        return max(self.max_steps - 1, 0)

    @property
    def epoch(self) -> float:
        return max(math.ceil(self.num_train_epochs) - 1, 0)


class LayerwiseTrainer(Trainer):
    """``transformers.Trainer`` with per-layer optimizer groups and gradual unfreezing (see the module docstring)."""

    def __init__(self, *args: Any, schedule: LayerSchedule, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schedule = schedule
        self._dropped: tuple[int, list[nn.Parameter]] = (-1, [])
        if schedule.unfreeze:
            self.add_callback(GradualUnfreezing(schedule))
        if self.args.process_index == 0:
            print(f"[hf_transfer_kit] {schedule.describe()}", flush=True)

    def create_optimizer(self, model: Optional[nn.Module] = None) -> Any:
        if self.optimizer is None:
            from transformers.trainer_optimizer import is_optimizer_factory

            opt_model = self.accelerator.unwrap_model(self.model if model is None else model)
            optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
            if is_optimizer_factory(optimizer_cls) or {"params", "model", "optimizer_dict"} & set(kwargs):
                raise ConfigError("training.optim", str(self.args.optim), "this optimizer builds its own parameter "
                                  "groups, so layer-wise learning rates and gradual unfreezing cannot apply; use "
                                  "adamw_torch (the default) or remove strategy.layer_lr_decay / strategy.unfreeze.")
            groups = self.schedule.parameter_groups(opt_model, set(self.get_decay_parameter_names(opt_model)),
                                                    self.args.learning_rate, self.args.weight_decay)
            self.optimizer = optimizer_cls(groups, **kwargs)
        return super().create_optimizer(model)

    def training_step(self, model: nn.Module, inputs: Any, num_items_in_batch: Any = None) -> Any:
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.schedule.unfreeze and not _toggles_requires_grad(self.args):
            for p in self._frozen_parameters():
                p.grad = None  # gradients were all-reduced; these layers are not unfrozen yet
        return loss

    def _frozen_parameters(self) -> list[nn.Parameter]:
        depth = self.schedule.trainable_depth(self.state)
        if self._dropped[0] != depth:
            frozen = self.schedule.frozen_names(self.state)
            self._dropped = (depth, [p for n, p in self.accelerator.unwrap_model(self.model).named_parameters()
                                     if n in frozen])
        return self._dropped[1]

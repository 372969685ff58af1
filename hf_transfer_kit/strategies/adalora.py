"""AdaLoRA's rank budget, moved while the Trainer trains (``strategy.name: peft``, ``method: adalora``).

AdaLoRA (``peft.AdaLoraConfig``) starts every adapted matrix at rank ``init_r`` and, between step ``tinit`` and
step ``total_step - tfinal``, masks the least important singular values until the average rank is ``target_r``;
the ranks it keeps are then fixed for the last ``tfinal`` steps. PEFT leaves two things to the training loop:

* ``total_step`` must be known when the config is built, before the data is loaded. Here it defaults to ``auto``:
  the Trainer's planned steps (``state.max_steps``), filled in when training starts. With
  ``num_train_epochs: auto`` those are the whole epoch budget, so an early stop ends the run before the budget
  reaches ``target_r``; give ``total_step`` (or a fixed epoch count) to schedule it yourself.
* ``model.base_model.update_and_allocate(step)`` must run after every optimizer step, while the gradients are
  still there. Trainer never calls it; :class:`RankBudget` does, from ``on_optimizer_step``.

The rank each matrix keeps is PEFT's ``rank_pattern``, saved in ``adapter_config.json`` with the adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn
from transformers import TrainerCallback

from ..errors import ConfigError
from ..launch import sharded_engine

METHOD = "ADALORA"


def is_adalora(method: Any) -> bool:
    return str(method).upper().replace("-", "_") == METHOD


def provisional_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``total_step: auto`` as a placeholder PEFT accepts (it must leave a budgeting phase); the real value is set
    by :class:`RankBudget` once the Trainer knows its steps."""
    out = dict(options)
    if out.get("total_step", "auto") == "auto":
        out["total_step"] = int(out.get("tinit", 0)) + int(out.get("tfinal", 0)) + 1
    return out


def check_training(args: Any) -> None:
    """Importance scores read every adapter gradient on each rank: sharded engines do not keep them there."""
    engine = sharded_engine(args)
    if engine:
        raise ConfigError("strategy.method", "adalora", f"AdaLoRA's rank allocation reads whole gradients, which "
                          f"{engine} keeps sharded; launch with DDP (recipes/accelerate/multi_gpu.yaml) or use "
                          "strategy.name=lora.")


def _config(model: nn.Module) -> Any:
    base = getattr(model, "base_model", None)
    if base is None or not hasattr(base, "update_and_allocate"):
        raise TypeError(f"RankBudget needs an AdaLoRA PeftModel, got {type(model).__name__}")
    return base.peft_config[base.trainable_adapter_name]


class RankBudget(TrainerCallback):
    """Sets ``total_step`` when it is ``auto`` and reallocates AdaLoRA's ranks after every optimizer step."""

    def __init__(self, auto_total: bool) -> None:
        self.auto_total = auto_total

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        config = _config(model)
        if self.auto_total:
            config.total_step = state.max_steps
        if config.tinit >= config.total_step - config.tfinal:
            raise ConfigError("strategy.tinit", config.tinit, f"with tfinal={config.tfinal} it leaves no step of "
                              f"the {config.total_step} training steps for AdaLoRA to reallocate ranks; lower "
                              "strategy.tinit / strategy.tfinal or train longer.")

    def on_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        # state.global_step is this step's index (the Trainer counts it after the callback), as PEFT expects
        model.base_model.update_and_allocate(state.global_step)


def ranks(model: nn.Module) -> dict[str, int]:
    """The rank each adapted matrix keeps: its unmasked singular values in PEFT's ``rank_pattern`` once a budget
    was allocated, ``init_r`` before."""
    config = _config(model)
    pattern = config.rank_pattern or {}
    out = {}
    for name, module in model.base_model.model.named_modules():
        if isinstance(getattr(module, "lora_E", None), nn.ParameterDict) and len(module.lora_E):
            mask = pattern.get(f"{name}.lora_E")
            out[name] = int(sum(mask)) if mask is not None else config.init_r
    return out

"""Find the learning rate: ``training.learning_rate: auto`` runs a short range test before training.

The test (Smith 2015; fastai's and Lightning's ``lr_find``) trains the strategy's own trainable parameters for a few
dozen steps on the training split while the learning rate grows exponentially from ``LR_MIN`` to ``LR_MAX``, records
the loss (smoothed, exponential average with bias correction), stops once it has clearly diverged, and then puts
every weight, buffer and RNG state back as it was. The rule: **the rate at the lowest smoothed loss, divided by
``DIVISOR``** (fastai's "minimum / 10"): the minimum itself is the edge of divergence; a tenth of it still learns
fast. Where the curve shows no descent (loss never fell by ``MIN_DROP`` of its start) or the data is too small for
``MIN_STEPS`` batches, the strategy's fallback rate below is used instead, and the run says so.

The cost is a tenth of the planned optimizer steps, at least ``2 * MIN_STEPS`` and at most ``MAX_STEPS`` (reported
in metrics.json with its share of the run); the curve is plotted into the output (``images/lr_find.png``), and the
chosen rate is kept in the staging folder so that ``--resume`` continues with it instead of testing again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import torch

from .rng import kept_random_state

LR_MIN, LR_MAX = 1e-7, 1.0
MAX_STEPS = 60
MIN_STEPS = 12
DIVISOR = 10.0
MIN_DROP = 0.05
SMOOTHING = 0.9
#: Per-strategy rates used before the test runs (TrainingArguments needs a number) and when it finds no descent.
FALLBACK = {"full": 5e-5, "partial": 1e-4, "bitfit": 1e-3, "linear_probe": 1e-2, "lora": 5e-4, "adapter": 1e-3,
            "peft": 1e-3}
RESULT_FILE = "lr_find.json"


def fallback(strategy: str) -> float:
    return FALLBACK.get(strategy, 1e-4)


def choose(lrs: list[float], losses: list[float]) -> tuple[Optional[float], str]:
    """(rate, why) by the documented rule; None when the curve has no usable descent."""
    if len(losses) < MIN_STEPS:
        return None, f"only {len(losses)} steps before the loss diverged (need {MIN_STEPS})"
    best = min(range(len(losses)), key=losses.__getitem__)
    if losses[best] > (1 - MIN_DROP) * losses[0]:
        return None, f"the loss never fell by {MIN_DROP:.0%} of its start"
    return lrs[best] / DIVISOR, f"the lowest smoothed loss was at {lrs[best]:.3g}; a tenth of it"


def steps_for(trainer: Any) -> int:
    """A tenth of the run's planned optimizer steps, within [2 * MIN_STEPS, MAX_STEPS]."""
    args = trainer.args
    planned = args.max_steps if args.max_steps > 0 else \
        int(len(trainer.get_train_dataloader()) * args.num_train_epochs / max(args.gradient_accumulation_steps, 1))
    return max(2 * MIN_STEPS, min(MAX_STEPS, planned // 10))


def range_test(trainer: Any, steps: int = MAX_STEPS) -> dict[str, Any]:
    """The range test on ``trainer``'s model and training data; everything is restored afterwards."""
    model = trainer.model
    params = [p for p in model.parameters() if p.requires_grad]
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(params, lr=LR_MIN, weight_decay=trainer.args.weight_decay)
    factor = (LR_MAX / LR_MIN) ** (1 / max(steps - 1, 1))
    lrs: list[float] = []
    smoothed: list[float] = []
    average = 0.0
    with kept_random_state():  # the run then trains as it would without the test (dropout, data order)
        start = time.perf_counter()
        model.train()
        loader = trainer.get_train_dataloader()
        batches = iter(loader)
        try:
            for step in range(steps):
                try:
                    batch = next(batches)
                except StopIteration:
                    batches = iter(loader)
                    batch = next(batches)
                lr = LR_MIN * factor ** step
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with trainer.compute_loss_context_manager():
                    loss = trainer.compute_loss(model, trainer._prepare_inputs(batch))
                if not torch.isfinite(loss):
                    break
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                average = SMOOTHING * average + (1 - SMOOTHING) * float(loss.detach())
                value = average / (1 - SMOOTHING ** (step + 1))
                lrs.append(lr)
                smoothed.append(value)
                if step >= MIN_STEPS and value > 4 * min(smoothed):
                    break
        finally:
            model.load_state_dict(saved)
            for p in params:
                p.grad = None
    return {"lrs": lrs, "losses": smoothed, "seconds": round(time.perf_counter() - start, 2)}


def find(trainer: Any, strategy: str, staging: Path) -> dict[str, Any]:
    """Pick the run's learning rate (or read the one an interrupted run picked) and set it on ``trainer.args``."""
    record = staging / RESULT_FILE
    if record.is_file():
        result = json.loads(record.read_text())
        result["reused"] = True
    else:
        curve = range_test(trainer, steps_for(trainer))
        lr, why = choose(curve["lrs"], curve["losses"])
        result = {**curve, "learning_rate": lr if lr is not None else fallback(strategy), "why": why,
                  "fallback": lr is None, "rule": f"lowest smoothed loss / {DIVISOR:g}"}
        if trainer.args.should_save:
            staging.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(result))
            plot(result, staging / "images" / "lr_find.png")
    if trainer.args.world_size > 1:  # every process trains at the main process's choice
        from accelerate.utils import broadcast_object_list

        result = broadcast_object_list([result], from_process=0)[0]
    trainer.args.learning_rate = float(result["learning_rate"])
    return result


def plot(result: dict[str, Any], path: Path) -> Optional[Path]:
    from .plots import new_figure, save_png

    fig = new_figure(5.5, 3.5)
    if fig is None:
        return None
    ax = fig.add_subplot(111)
    ax.plot(result["lrs"], result["losses"])
    ax.axvline(result["learning_rate"], color="tab:red", linestyle="--",
               label=f"chosen {result['learning_rate']:.2g}" + (" (fallback)" if result["fallback"] else ""))
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss (smoothed)")
    ax.set_title("Learning-rate range test")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_png(fig, path)


def summary(result: dict[str, Any], train_seconds: float) -> dict[str, Any]:
    """What metrics.json keeps: the rate, why, and the cost as a share of the run."""
    out = {k: result[k] for k in ("learning_rate", "why", "fallback", "rule", "seconds") if k in result}
    out["steps"] = len(result.get("lrs", []))
    out["share_of_run"] = round(result.get("seconds", 0.0) / max(train_seconds, 1e-9), 4)
    return out


def is_auto(training: Any) -> bool:
    return training.get("learning_rate") == "auto"


def placeholder(kwargs: dict[str, Any], strategy: str) -> dict[str, Any]:
    """TrainingArguments keywords with ``learning_rate: auto`` replaced by the strategy's fallback until the test."""
    if kwargs.get("learning_rate") == "auto":
        kwargs = {**kwargs, "learning_rate": fallback(strategy)}
    return kwargs


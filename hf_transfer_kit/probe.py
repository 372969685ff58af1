"""The linear probe on cached features: the frozen backbone runs once, the head trains on tensors.

Nothing below the head learns in a linear probe, so every epoch would recompute the same features. Instead the
backbone runs once over the training and validation splits in eval mode (no dropout, pretrained batch-norm
statistics), a forward hook keeps what enters the head, and the head trains on those tensors with the run's own
TrainingArguments (epochs, early stopping, checkpoints, resume) through a second ``Trainer``. The head is the model's
own module, shared, so the full model is trained when the head is: the run then evaluates and saves the full model
on raw inputs as any other run does, and the saved model predicts from raw text or images.

Used when ``strategy.cache_features`` is true (the linear probe's default) and the model has exactly one head
module; a multi-process launch trains uncached (each process would compute every feature).
"""

from __future__ import annotations

import copy
import time
from typing import Any, Optional

import torch
from torch import nn
from transformers.loss.loss_utils import ForSequenceClassificationLoss
from transformers.modeling_outputs import SequenceClassifierOutput

from . import stopping, tracking
from .strategies.anatomy import head_module_names


class HeadOnly(nn.Module):
    """The model's head on cached features, with the model's own loss for its ``problem_type``."""

    def __init__(self, head: nn.Module, config: Any) -> None:
        super().__init__()
        self.head = head
        self.config = config

    def forward(self, features: torch.Tensor, labels: Optional[torch.Tensor] = None) -> Any:
        logits = self.head(features)
        loss = ForSequenceClassificationLoss(labels, logits, self.config) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def head_of(model: nn.Module) -> Optional[nn.Module]:
    """The one trainable head module of a linear probe, or None when there is not exactly one."""
    names = head_module_names(model)
    if len(names) != 1:
        return None
    head = getattr(model, names[0])
    return head if all(p.requires_grad for p in head.parameters()) else None


@torch.no_grad()
def features(trainer: Any, model: nn.Module, head: nn.Module, dataset: Any) -> Any:
    """What enters ``head`` for every example of ``dataset`` (the model in eval mode, batches of the eval size), as
    a dataset of ``features`` and ``labels``."""
    from datasets import Dataset

    captured: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda module, args: captured.append(args[0].detach().float().cpu()))
    was_training = model.training
    model.eval()
    try:
        for batch in trainer.get_eval_dataloader(dataset):
            inputs = trainer._prepare_inputs(batch)
            labels.append(inputs.pop("labels").cpu())
            with trainer.autocast_smart_context_manager():
                model(**inputs)
    finally:
        handle.remove()
        model.train(was_training)
    return Dataset.from_dict({"features": torch.cat(captured).numpy(),
                              "labels": torch.cat(labels).numpy()}).with_format("torch")


def train_head(recipe: Any, checkpoint: Optional[str], before: Any = None) -> tuple[Any, dict[str, Any]]:
    """Train ``recipe``'s head on cached features; returns the head Trainer's TrainOutput and what caching cost."""
    from transformers import ProgressCallback, Trainer, default_data_collator

    trainer, model = recipe.trainer, recipe.trainer.model
    head = head_of(model)
    start = time.perf_counter()
    cached = {split: features(trainer, model, head, recipe.unaugmented(split)) for split in ("train", "validation")}
    seconds = time.perf_counter() - start
    args = copy.copy(recipe.args)
    args.train_sampling_strategy = "random"  # fixed-size feature vectors: no lengths to group batches by
    head_trainer = Trainer(model=HeadOnly(head, model.config), args=args, train_dataset=cached["train"],
                           eval_dataset=cached["validation"], data_collator=default_data_collator,
                           compute_metrics=trainer.compute_metrics, compute_loss_func=trainer.compute_loss_func)
    head_trainer.model_accepts_loss_kwargs = False
    head_trainer.pop_callback(ProgressCallback)
    defaults = {type(cb) for cb in head_trainer.callback_handler.callbacks}
    for callback in trainer.callback_handler.callbacks:  # the run's own: progress, interrupt, early stopping, user's
        if type(callback) not in defaults:
            head_trainer.add_callback(callback)
    stopping.attach(head_trainer)  # the head's schedule is the one lowered on plateaus
    tracking.attach(head_trainer)  # the head reports through the run's trackers, not fresh ones
    if before is not None:
        before(head_trainer)  # e.g. the learning-rate range test, on the cached features
    output = head_trainer.train(resume_from_checkpoint=checkpoint)
    trainer.state = head_trainer.state  # the log, epochs and best checkpoint of the run are the head's
    return output, {"cached_features": True, "feature_seconds": round(seconds, 2),
                    "examples": {split: len(ds) for split, ds in cached.items()}}

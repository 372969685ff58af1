"""Batch-norm statistics after short runs: recompute them on the training data once training ends.

A batch norm that trains updates its running mean and variance as an exponential average with ``momentum``. CNNs
converted from TensorFlow keep TF's decay of 0.99, i.e. torch momentum 0.01: after a few hundred steps the running
statistics still mostly describe the pretraining data, while the weights have moved to the target data, and the
model evaluates worse than it trained. torch's ``swa_utils.update_bn`` answers this for averaged weights; we do the
same for every batch norm that updated during training too few times to forget its pretraining statistics (more
than ``STALE_SHARE`` of them left; batch norms in frozen blocks, held in eval mode by ``strategies/frozen.py``, keep
theirs): reset, then one pass over (at most ``MAX_BATCHES`` batches of) the training data in eval mode elsewhere,
with a cumulative average (``momentum=None``). Measured (``benchmarks/batch_norm_effect.py``, EfficientNet-Lite0
full fine-tuning on 600 MNIST images, the same weights scored before and after): 2 epochs (38 steps, 68 % of the
statistics still pretraining's) 73.0 % -> 84.25 % test accuracy; 13 epochs (247 steps, 8 %) 96.0 % -> 95.75 %
(one image of 400: neutral). Past ``STALE_SHARE`` the statistics are already the target data's and are left as
trained.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

#: Batches of the training split the recomputation reads at most (the statistics of 200 batches are stable).
MAX_BATCHES = 200
#: Recompute a batch norm when more than this share of its running statistics still comes from before training:
#: ``(1 - momentum) ** updates`` (momentum 0.01: fewer than ~300 training forwards; torch's default 0.1: ~30).
STALE_SHARE = 0.05


class Tracker:
    """Records which batch norms of ``model`` ran in training mode (and so updated their statistics)."""

    def __init__(self, model: nn.Module) -> None:
        self.updates: dict[int, int] = {}
        self.handles = [m.register_forward_pre_hook(self._seen) for m in model.modules()
                        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]

    def _seen(self, module: nn.Module, args: Any) -> None:
        if module.training:
            self.updates[id(module)] = self.updates.get(id(module), 0) + 1

    def stale(self, module: nn.Module) -> bool:
        """Whether ``module`` trained, yet too few steps to forget the pretraining statistics (``STALE_SHARE``)."""
        updates = self.updates.get(id(module), 0)
        return updates > 0 and module.momentum is not None and (1 - module.momentum) ** updates > STALE_SHARE


@torch.no_grad()
def recompute(model: nn.Module, tracker: Tracker, trainer: Any) -> dict[str, Any]:
    """Recompute the running statistics of the batch norms that trained too briefly; {} when there are none."""
    norms = [m for m in model.modules() if tracker.stale(m)]
    for handle in tracker.handles:
        handle.remove()
    if not norms:
        return {}
    start = time.perf_counter()
    was_training = model.training
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the pass
        m.train()
    batches = 0
    for batch in trainer.get_train_dataloader():
        inputs = trainer._prepare_inputs(batch)
        inputs.pop("labels", None)
        model(**inputs)
        batches += 1
        if batches >= MAX_BATCHES:
            break
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(was_training)
    return {"recomputed": len(norms), "batches": batches, "seconds": round(time.perf_counter() - start, 2)}

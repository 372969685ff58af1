"""Knowledge distillation, the parts that do not depend on a recipe: the loss, the student's layers, the timing.

A fine-tuned *teacher* trains a smaller *student* through its soft predictions (Hinton et al., 2015): the student
minimises ``alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, labels)``,
optionally plus ``beta * MSE`` between hidden states (TinyBERT-style, Jiao et al., 2020). The temperature ``T``
softens both distributions so the teacher's ranking of the wrong classes (what it "knows" beyond the label) carries
gradient; ``T^2`` keeps the soft term's gradients the size of the hard one's.

Why a ``compute_loss`` hook rather than a ``Trainer`` subclass: the recipe's Trainer may already be a subclass picked
by the strategy (e.g. layer-wise learning rates); :class:`Distiller` wraps whichever Trainer it is given, so both
compose. The teacher stays outside the Trainer: it is never wrapped by Accelerate (DDP, FSDP, DeepSpeed), never
trained and never checkpointed; it runs in eval mode without gradients, on the student's device, under the same
autocast as the student.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

#: Prefix of the columns holding the teacher's own tokenization when it differs from the student's.
TEACHER_PREFIX = "teacher_"
#: Name of the learned student-to-teacher width projection while it trains (stripped from the saved student).
PROJECTION = "kd_projection"


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(p_teacher || p_student)`` at temperature ``T``, averaged over the examples of the batch."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits.float() / t, dim=-1), F.log_softmax(teacher_logits.float() / t, dim=-1),
                    reduction="batchmean", log_target=True) * (t * t)


def uniform_layer_map(student_layers: int, teacher_layers: int) -> list[tuple[int, int]]:
    """(student, teacher) indices into ``hidden_states`` (0 = embeddings): student layer i of S is matched with teacher
    layer round(i * T / S), so the last layers (what the classifier reads) are always matched with each other."""
    return [(i, round(i * teacher_layers / student_layers)) for i in range(student_layers + 1)]


def hidden_state_loss(student_states: Sequence[torch.Tensor], teacher_states: Sequence[torch.Tensor],
                      attention_mask: torch.Tensor, projection: Optional[nn.Module] = None) -> torch.Tensor:
    """Mean squared error between matched hidden states over the real (unpadded) tokens, averaged over the layer
    pairs; ``projection`` maps the student's width to the teacher's when they differ."""
    mask = attention_mask.unsqueeze(-1).to(torch.float32)
    tokens = mask.sum().clamp(min=1.0)
    pairs = uniform_layer_map(len(student_states) - 1, len(teacher_states) - 1)
    total = student_states[0].new_zeros((), dtype=torch.float32)
    for s, t in pairs:
        student = student_states[s] if projection is None else projection(student_states[s])
        teacher = teacher_states[t].float()
        total = total + (((student.float() - teacher) ** 2) * mask).sum() / (tokens * teacher.shape[-1])
    return total / len(pairs)


class Distiller:
    """The distillation loss, hooked into a ``transformers.Trainer``'s ``compute_loss`` (see the module docstring).

    In training the loss is ``alpha * soft + (1 - alpha) * hard (+ hidden_state_weight * hidden)``; in evaluation it is
    the Trainer's own (the student's cross-entropy), so validation losses of distilled and plain students compare.
    ``label_order[i]`` is the teacher's logit index for the student's class ``i`` (None when the orders agree).
    """

    def __init__(self, teacher: nn.Module, temperature: float, alpha: float, hidden_state_weight: float = 0.0,
                 label_order: Optional[Sequence[int]] = None) -> None:
        self.teacher = teacher.eval().requires_grad_(False)
        self.temperature, self.alpha, self.hidden_state_weight = temperature, alpha, hidden_state_weight
        self.label_order = list(label_order) if label_order is not None else None
        self.trainer: Any = None
        self._plain_loss: Optional[Callable[..., Any]] = None

    def attach(self, trainer: Any) -> Any:
        """Route ``trainer.compute_loss`` through the distillation loss; returns the trainer."""
        self.trainer, self._plain_loss = trainer, trainer.compute_loss
        self.teacher.to(trainer.args.device)
        trainer.compute_loss = self.compute_loss
        trainer.loss_is_scaled_for_ga = False  # a per-batch mean: Trainer divides it by the accumulation steps
        return trainer

    def teacher_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits if self.label_order is None else logits[:, self.label_order]

    def compute_loss(self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        plain = self._plain_loss
        assert plain is not None, "attach() the Distiller to a Trainer first"
        teacher_inputs = {k[len(TEACHER_PREFIX):]: inputs.pop(k) for k in [k for k in inputs if k.startswith(TEACHER_PREFIX)]}
        if not model.training or (self.alpha == 0 and self.hidden_state_weight == 0):
            return plain(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        hidden = self.hidden_state_weight > 0
        student_inputs = {**inputs, "output_hidden_states": True} if hidden else inputs
        hard, outputs = plain(model, student_inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        teacher_inputs = teacher_inputs or {k: v for k, v in inputs.items() if k != "labels"}
        with torch.no_grad(), self.trainer.accelerator.autocast():
            taught = self.teacher(**teacher_inputs, output_hidden_states=hidden)
        loss = self.alpha * soft_target_loss(outputs.logits, self.teacher_logits(taught.logits), self.temperature)
        loss = loss + (1 - self.alpha) * hard
        if hidden:
            projection = getattr(self.trainer.accelerator.unwrap_model(model), PROJECTION, None)
            loss = loss + self.hidden_state_weight * hidden_state_loss(
                outputs.hidden_states, taught.hidden_states, inputs["attention_mask"], projection)
        return (loss, outputs) if return_outputs else loss


@dataclass
class PairedCollator:
    """Pads the student's and (under ``teacher_*`` keys) the teacher's tokenization of the same examples, each with
    its own collator: students with another tokenizer learn from a teacher that reads its own tokens."""

    student: Callable[[list[dict[str, Any]]], dict[str, Any]]
    teacher: Callable[[list[dict[str, Any]]], dict[str, Any]]

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(TEACHER_PREFIX)
        batch = self.student([{k: v for k, v in f.items() if not k.startswith(TEACHER_PREFIX)} for f in features])
        teacher = [{k[n:]: v for k, v in f.items() if k.startswith(TEACHER_PREFIX)} for f in features]
        if teacher and teacher[0]:
            batch.update({TEACHER_PREFIX + k: v for k, v in self.teacher(teacher).items()})
        return batch


# ---- the student's layers ----------------------------------------------------------------------------------------

def layer_stack(model: nn.Module) -> tuple[nn.Module, str, nn.ModuleList]:
    """(parent, attribute, list) of the transformer blocks: the first ``ModuleList`` as long as
    ``config.num_hidden_layers`` (``bert.encoder.layer``, ``distilbert.transformer.layer``, ``model.layers``...)."""
    depth = getattr(model.config, "num_hidden_layers", None)
    for module in model.modules():
        for name, child in module.named_children():
            if isinstance(child, nn.ModuleList) and len(child) == depth:
                return module, name, child
    raise ValueError(f"{type(model).__name__} has no list of {depth} layers to select from")


def keep_layers(model: nn.Module, layers: Sequence[int]) -> nn.Module:
    """Cut ``model`` down to ``layers`` (0-based, in this order), keeping their weights; returns the model.

    The config follows (``num_hidden_layers``, per-layer ``layer_types``), as do the layer indices some attention
    modules hold for their key/value cache, so the student saves and reloads as an ordinary, shallower checkpoint.
    """
    parent, name, stack = layer_stack(model)
    kept = nn.ModuleList([stack[i] for i in layers])
    setattr(parent, name, kept)
    config = model.config
    if isinstance(getattr(config, "layer_types", None), list):
        config.layer_types = [config.layer_types[i] for i in layers]
    config.num_hidden_layers = len(layers)
    for index, layer in enumerate(kept):
        for module in layer.modules():
            if isinstance(getattr(module, "layer_idx", None), int):
                module.layer_idx = index
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- inference speed ----------------------------------------------------------------------------------------------

@torch.inference_mode()
def predict_and_time(models: Mapping[str, nn.Module], batches: Mapping[str, Sequence[Mapping[str, torch.Tensor]]],
                     repeats: int = 3, autocast: Optional[Callable[[], Any]] = None) -> tuple[dict, dict]:
    """Logits of each model on its batches (one pass, which also warms up), then samples/s: the fastest of
    ``repeats`` timed passes, the models taking turns so that a load spike on a shared machine hits all of them.

    Returns ``({name: logits}, {name: samples_per_second})``.
    """
    import contextlib

    context = autocast or contextlib.nullcontext
    modes = {name: model.training for name, model in models.items()}
    for model in models.values():
        model.eval()
    logits: dict[str, torch.Tensor] = {}
    best = {name: float("inf") for name in models}
    try:
        with context():
            for name, model in models.items():
                logits[name] = torch.cat([model(**batch).logits.float().cpu() for batch in batches[name]])
            for _ in range(repeats):
                for name, model in models.items():
                    start = time.perf_counter()
                    for batch in batches[name]:
                        model(**batch)
                    best[name] = min(best[name], time.perf_counter() - start)
    finally:
        for name, model in models.items():
            model.train(modes[name])
    examples = {name: sum(len(next(iter(b.values()))) for b in batches[name]) for name in models}
    return logits, {name: examples[name] / best[name] for name in models}

"""Frozen blocks stay frozen: no dropout and no batch-norm statistics updates where nothing learns.

``requires_grad=False`` stops a block's weights from changing, but ``model.train()`` (which the Trainer calls every
step) still turns on its dropout and lets its batch norms overwrite their running statistics with the target data's.
For a frozen block both are wrong: the dropout only adds noise to features nothing below the head can adapt to, and
the batch-norm drift changes the pretrained features the head is learning to read (a linear probe then trains on one
set of features and is evaluated on another). So every block with no trainable parameter runs in eval mode while
the model trains (``strategy.frozen_blocks: eval``, the default; ``train`` keeps transformers' behaviour).

A *block* is what strategies freeze: the embeddings (or a CNN's stem), each block of the layer stack, and any other
child of the backbone. A block that holds even one trainable tensor (a LoRA matrix, a bias under BitFit) is a
trained block and keeps its dropout. The check runs at every forward, so gradual unfreezing turns blocks back on as
it unfreezes them.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .anatomy import base_model, layer_stack

FROZEN_BLOCK_MODES = ("eval", "train")


def blocks(model: nn.Module) -> list[nn.Module]:
    """The units a strategy freezes: each block of the layer stack, and every other child of the backbone (and of
    the modules between the backbone and the stack, such as BERT's ``encoder``)."""
    backbone = base_model(model)
    try:
        stack_name, stack = layer_stack(model)
    except ValueError:
        stack_name, stack = "", nn.ModuleList()
    modules = dict(model.named_modules())
    parts = stack_name.split(".") if stack_name else []
    ancestors = {id(modules[".".join(parts[:i])]) for i in range(len(parts))}  # the model itself and the modules
    found: list[nn.Module] = list(stack)                                       # down to the stack's parent

    def walk(module: nn.Module) -> None:
        for child in module.children():
            if child is stack:
                continue
            if id(child) in ancestors:
                walk(child)
            elif any(True for _ in child.parameters()):
                found.append(child)

    if backbone is not model:
        walk(backbone)
    return found


class _EvalWhenFrozen:
    """Forward pre-hook: put the block in eval mode while none of its parameters requires a gradient."""

    def __call__(self, module: nn.Module, args: Any) -> None:
        if module.training and not any(p.requires_grad for p in module.parameters()):
            module.eval()


def hold_frozen_blocks_in_eval(model: nn.Module) -> list[nn.Module]:
    """Install the eval-while-frozen hook on every block of the (not yet wrapped) model; return the blocks. PEFT
    changes modules in place, so the hooks survive a strategy's wrapping; whether a block is frozen is read at
    each forward."""
    hook = _EvalWhenFrozen()
    found = blocks(model)
    for block in found:
        block.register_forward_pre_hook(hook)
    return found


def frozen(found: list[nn.Module]) -> list[nn.Module]:
    """The blocks among ``found`` with no trainable parameter (now)."""
    return [b for b in found if not any(p.requires_grad for p in b.parameters())]

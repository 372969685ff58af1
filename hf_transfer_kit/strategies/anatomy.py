"""Find the parts of a transformers model that strategies talk about: head, embeddings, layers.

Why not hard-code names per architecture: ``base_model_prefix`` and the encoder's ``ModuleList``
are conventions every transformers model follows, so one rule covers BERT, RoBERTa, ViT, Llama...
"""

from __future__ import annotations

from torch import nn


def base_model(model: nn.Module) -> nn.Module:
    prefix = getattr(model, "base_model_prefix", "")
    return getattr(model, prefix, model) if prefix else model


def head_module_names(model: nn.Module) -> list[str]:
    """Top-level children outside the backbone that hold parameters (e.g. ``classifier``, ``pre_classifier``)."""
    prefix = getattr(model, "base_model_prefix", "")
    return [name for name, child in model.named_children()
            if name != prefix and any(True for _ in child.parameters())]


def embedding_module_names(model: nn.Module) -> list[str]:
    """Module name(s) of the input embeddings (``bert.embeddings``, ``vit.embeddings``, ``model.embed_tokens``)."""
    prefix = getattr(model, "base_model_prefix", "")
    backbone = base_model(model)
    dotted = f"{prefix}." if backbone is not model else ""
    if isinstance(getattr(backbone, "embeddings", None), nn.Module):
        return [f"{dotted}embeddings"]
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    return [name for name, module in model.named_modules() if emb is not None and module is emb]


def layer_stack(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The longest ``ModuleList`` inside the backbone: the transformer blocks, bottom first."""
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and (best is None or len(module) > len(best[1])):
            best = (name, module)
    if best is None:
        raise ValueError(f"{type(model).__name__} has no ModuleList of layers; freeze by name or pattern instead.")
    return best


def linear_module_names(model: nn.Module) -> list[str]:
    """Names of ``nn.Linear`` leaves in the backbone (the head excluded)."""
    heads = tuple(head_module_names(model))
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and not name.startswith(heads)]

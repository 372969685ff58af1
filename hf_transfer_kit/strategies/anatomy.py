"""Find the parts of a transformers model that strategies talk about: head, embeddings, layers.

Why not hard-code names per architecture: ``base_model_prefix`` and the encoder's ``ModuleList``
are conventions every transformers model follows, so one rule covers BERT, RoBERTa, ViT, Llama,
and the staged CNNs / hierarchical ViTs (ResNet, ConvNeXt, Swin: ``encoder.stages`` / ``encoder.layers``).
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
    for stem in ("embeddings", "embedder"):  # ``embedder``: the stem of ResNet / RegNet-style CNNs
        if isinstance(getattr(backbone, stem, None), nn.Module):
            return [f"{dotted}{stem}"]
    try:
        emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    except NotImplementedError:  # vision models without token embeddings
        emb = None
    return [name for name, module in model.named_modules() if emb is not None and module is emb]


def layer_stack(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The outermost non-empty ``ModuleList`` outside the head (the longest among equally shallow ones): the
    transformer blocks, or the stages of a staged CNN / Swin rather than the blocks inside one stage; bottom first."""
    heads = tuple(head_module_names(model))
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0 or (heads and name.startswith(heads)):
            continue
        if best is None or (name.count("."), -len(module)) < (best[0].count("."), -len(best[1])):
            best = (name, module)
    if best is None:
        raise ValueError(f"{type(model).__name__} has no ModuleList of layers; freeze by name or pattern instead.")
    return best


def bottom_module_names(model: nn.Module, count: int, param: str = "strategy.freeze_bottom_layers") -> list[str]:
    """Names of the modules at or below block ``count - 1`` of the layer stack: its bottom ``count`` blocks and
    whatever owns parameters registered before the stack (embeddings, a CNN's stem). Nothing in them needs a
    gradient when they are frozen, so autograd never walks back into them."""
    from ..errors import ConfigError

    try:
        stack_name, stack = layer_stack(model)
    except ValueError as err:
        raise ConfigError(param, count, f"{err} Use 0.") from err
    if count > len(stack):
        raise ConfigError(param, count, f"the model has {len(stack)} layers in '{stack_name}'; use at most "
                          f"{len(stack)}.")
    names = {f"{stack_name}.{i}" for i in range(count)}
    for name, _ in model.named_parameters():
        if name.startswith(f"{stack_name}."):
            break
        names.add(name.rsplit(".", 1)[0])
    return sorted(names)


def linear_module_names(model: nn.Module) -> list[str]:
    """Names of ``nn.Linear`` leaves in the backbone (the head excluded)."""
    heads = tuple(head_module_names(model))
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and not name.startswith(heads)]


def pointwise_conv_names(model: nn.Module) -> list[str]:
    """Names of the 1x1, ungrouped ``nn.Conv2d`` in the backbone: a CNN's channel-mixing ("linear") layers."""
    heads = tuple(head_module_names(model))
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.groups == 1 and not name.startswith(heads)]


#: Attention projection pairs adapters target by default, as PEFT's own per-architecture tables do.
ATTENTION_PROJECTIONS = (("q_proj", "v_proj"), ("query", "value"))


def default_target_modules(model: nn.Module) -> list[str]:
    """Adapter targets for an architecture PEFT's tables lack.

    Attention query/value projections where the backbone has them (ViT, DeiT, Swin, DINOv2...); else the
    channel-mixing layers: 1x1 convolutions and linear layers (ResNet, EfficientNet; ConvNeXt's pointwise
    layers are ``nn.Linear``) -- never the head, which is trained whole. Leaf names are used where they are
    unambiguous (``expand_conv``), full module names where a leaf name also covers other layers (ResNet's
    ``convolution`` is 1x1 and 3x3). Why not PEFT's "all-linear": without a task type it keeps the head.
    """
    linear = linear_module_names(model)
    leaves = {name.rsplit(".", 1)[-1] for name in linear}
    for pair in ATTENTION_PROJECTIONS:
        if set(pair) <= leaves:
            return list(pair)
    targets = pointwise_conv_names(model) + linear
    if not targets:
        raise ValueError(f"{type(model).__name__} has no linear or 1x1 convolution layers to adapt; set "
                         "strategy.target_modules explicitly.")
    chosen = set(targets)
    by_leaf: dict[str, list[str]] = {}
    for name, _ in model.named_modules():
        by_leaf.setdefault(name.rsplit(".", 1)[-1], []).append(name)
    out: list[str] = []
    for name in targets:
        leaf = name.rsplit(".", 1)[-1]
        entry = leaf if all(n in chosen for n in by_leaf[leaf]) else name
        if entry not in out:
            out.append(entry)
    return out


def running_stat_module_names(model: nn.Module) -> list[str]:
    """Leaf names of the backbone's batch-norm layers that track running statistics (``expand_bn``, ResNet's
    ``normalization``...).

    Why adapters need them: a train-mode forward updates those statistics even when every weight is frozen,
    so an adapter saved without them would reload onto the old statistics and predict differently.
    """
    heads = tuple(head_module_names(model))
    names = [name for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             and m.track_running_stats and not (heads and name.startswith(heads))]
    return sorted({name.rsplit(".", 1)[-1] for name in names})

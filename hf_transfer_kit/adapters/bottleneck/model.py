"""``BottleneckModel``: the PEFT tuner that inserts bottleneck adapters into a transformers model.

Besides the ``BaseTuner`` contract, it owns the checks that need the model: targets exist and have the
right kind, ``reduction_factor`` divides their width, and a saved adapter matches the base it is loaded
onto. They run in ``_prepare_adapter_config``/``_prepare_model``, i.e. before any module is replaced, so a
bad config never leaves the model half-wrapped.
"""

from __future__ import annotations

import re
from typing import Optional

from peft.tuners.tuners_utils import BaseTuner, BaseTunerLayer
from torch import nn

from ...errors import ConfigError
from .config import BottleneckConfig
from .layer import ADAPTER_DICT, BottleneckLayer, ParallelBottleneckLayer, SequentialBottleneckLayer, merge_error
from .targets import default_target_modules


class BottleneckModel(BaseTuner):
    """Houlsby, Pfeiffer or parallel bottleneck adapters; build it through ``peft.get_peft_model``.

    Example::

        import hf_transfer_kit.adapters  # registers the method with PEFT
        from hf_transfer_kit.adapters import BottleneckConfig
        from peft import get_peft_model

        config = BottleneckConfig(task_type="SEQ_CLS", placement="houlsby", reduction_factor=16)
        model = get_peft_model(AutoModelForSequenceClassification.from_pretrained(...), config)

    Adapters cannot be merged into the weights (``merge_and_unload`` raises); save the PEFT model instead,
    or ``unload()`` to get the base model back.
    """

    prefix: str = "bottleneck_"
    tuner_layer_cls = BottleneckLayer

    def _check_new_adapter_config(self, config: BottleneckConfig) -> None:
        """Refuse mixing parallel with houlsby/pfeiffer adapters on one model.

        They wrap nested modules (BERT's ``output`` contains ``output.dense``), so the second kind would
        find its targets hidden inside the first kind's wrappers.
        """
        super()._check_new_adapter_config(config)
        if len({_layer_class(c.placement) for c in self.peft_config.values()}) > 1:
            others = sorted({c.placement for c in self.peft_config.values() if c is not config})
            raise ConfigError("placement", config.placement,
                              f"cannot be combined with the adapters already on this model (placement {others}); "
                              "houlsby and pfeiffer mix, parallel needs a separate base model.")

    def _prepare_adapter_config(self, peft_config: BottleneckConfig, model_config: dict) -> BottleneckConfig:
        """Check a loaded adapter's architecture, then fill the default targets and record the model type."""
        model_type = model_config.get("model_type")
        saved_type = peft_config.base_model_type
        if saved_type is not None and saved_type != model_type:
            raise ConfigError("base_model_type", saved_type,
                              f"the adapter was built for a {saved_type!r} model but the base model is a "
                              f"{model_type!r} model; {_fix_for_other_base(peft_config)}")
        if peft_config.target_modules is None:
            peft_config.target_modules = default_target_modules(model_type, peft_config.placement)
        peft_config.base_model_type = model_type
        return peft_config

    def _prepare_model(self, peft_config: BottleneckConfig, model: nn.Module) -> None:
        """Validate the targets, their width against a loaded adapter's, and the bottleneck size, up front."""
        targets = self._find_targets(peft_config, model)
        if not targets:
            raise ConfigError("target_modules", peft_config.target_modules,
                              f"matches no module of this {type(model).__name__}. Its modules are: "
                              f"{_module_overview(model)}. Pass suffixes of those names or a regex over the full "
                              "names, or target_modules=None to detect them from the model type.")
        widths = {name: _adapter_width(module, peft_config) for name, module in targets.items()}
        first_width = next(iter(widths.values()))
        if peft_config.base_hidden_size is not None and peft_config.base_hidden_size != first_width:
            raise ConfigError("base_hidden_size", peft_config.base_hidden_size,
                              f"the adapter was built for hidden size {peft_config.base_hidden_size} but this "
                              f"{_model_type(model)} base model has hidden size {first_width} "
                              f"({next(iter(widths))}); {_fix_for_other_base(peft_config)}")
        peft_config.base_hidden_size = first_width
        for width in set(widths.values()):
            peft_config.bottleneck_size_for(width)

    def _find_targets(self, peft_config: BottleneckConfig, model: nn.Module) -> dict[str, nn.Module]:
        """Modules matched by ``target_modules``, skipping the insides of existing tuner layers."""
        inside_tuners = tuple(f"{name}." for name, module in model.named_modules()
                              if isinstance(module, BaseTunerLayer))
        return {
            name: module for name, module in model.named_modules()
            if name and not name.startswith(inside_tuners) and self._check_target_module_exists(peft_config, name)
        }

    def _create_and_replace(
        self,
        peft_config: BottleneckConfig,
        adapter_name: str,
        target: nn.Module,
        target_name: str,
        parent: nn.Module,
        current_key: str,
        parameter_name: Optional[str] = None,
    ) -> None:
        width = _adapter_width(target, peft_config)
        bottleneck_size = peft_config.bottleneck_size_for(width)
        if isinstance(target, BottleneckLayer):
            target.update_layer(adapter_name, bottleneck_size, peft_config)
            return
        new_module = _layer_class(peft_config.placement)(target, adapter_name, width, bottleneck_size, peft_config)
        self._replace_module(parent, target_name, new_module, target)

    @classmethod
    def _remove_adapter_name_from_key(cls, key: str, adapter_name: str) -> str:
        """Drop the adapter name: ``...bottleneck_adapter.<name>.down.weight`` -> ``...bottleneck_adapter.down.weight``.

        PEFT's default only drops the name when it is the second-to-last segment (as for LoRA's Linear),
        but each adapter here is a small module, so the name sits deeper. Saving and loading both use this
        mapping, which is what lets a checkpoint load under any adapter name.
        """
        return key.replace(f".{ADAPTER_DICT}.{adapter_name}.", f".{ADAPTER_DICT}.")

    def _replace_module(self, parent: nn.Module, child_name: str, new_module: nn.Module, child: nn.Module) -> None:
        """Swap ``child`` for ``new_module``.

        PEFT's default also copies ``child.weight`` and moves the adapter next to it, which fails for the FFN
        blocks the parallel placement wraps (they have no ``weight``); ``BottleneckLayer.update_layer``
        already places each adapter on its base module's device.
        """
        setattr(parent, child_name, new_module)

    def _check_merge_allowed(self) -> None:
        """Every merge path (``merge_adapter``, ``merge_and_unload``) passes here; none can work."""
        raise merge_error()


def _layer_class(placement: str) -> type[BottleneckLayer]:
    return ParallelBottleneckLayer if placement == "parallel" else SequentialBottleneckLayer


def _adapter_width(target: nn.Module, peft_config: BottleneckConfig) -> int:
    """Width the adapter works at: the output size of the wrapped Linear, or of the FFN block's last Linear."""
    module = target.get_base_layer() if isinstance(target, BaseTunerLayer) else target
    if peft_config.placement == "parallel":
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ConfigError("target_modules", peft_config.target_modules,
                              f"matched a {type(module).__name__} without nn.Linear layers, but placement='parallel' "
                              "wraps FFN blocks, e.g. BERT's 'output' or ViT's 'mlp'.")
        return linears[-1].out_features
    if not isinstance(module, nn.Linear):
        raise ConfigError("target_modules", peft_config.target_modules,
                          f"matched a {type(module).__name__}, but placement={peft_config.placement!r} wraps the "
                          "nn.Linear that produces a sublayer's output, e.g. BERT's 'output.dense'.")
    return module.out_features


def _module_overview(model: nn.Module) -> str:
    """Module names with layer indices folded to ``<i>``, so the list stays short for deep models."""
    return ", ".join(sorted({re.sub(r"\.\d+(?=\.|$)", ".<i>", name) for name, _ in model.named_modules() if name}))


def _fix_for_other_base(peft_config: BottleneckConfig) -> str:
    path = peft_config.base_model_name_or_path
    trained_on = f" ({path})" if path else ""
    return f"load it onto the base model it was trained on{trained_on}, or train a new adapter for this model."


def _model_type(model: nn.Module) -> str:
    return repr(getattr(getattr(model, "config", None), "model_type", type(model).__name__))

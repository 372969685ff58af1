"""Any PEFT method by name (``strategy.name: peft``) and LoRA, its most used member (``strategy.name: lora``).

The method's own config class (``peft.LoraConfig``, ``peft.IA3Config``...) is the schema: every field
it has is accepted at the top level of ``strategy``, unknown ones are errors. We add two things
PEFT leaves to the user: target modules detected per architecture (``target_modules: auto``) and
the task head always trained and saved with the adapter (``modules_to_save``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

from torch import nn

from ..errors import ConfigError, closest
from . import adalora
from .anatomy import (bottom_module_names, default_target_modules, head_module_names, linear_module_names,
                      running_stat_module_names)
from .base import Strategy, StrategyConfig, register_strategy

#: PEFT task types whose head is the pretrained language-model head (tied to the input embeddings in most models):
#: adapters leave it frozen instead of training and saving a full copy as ``modules_to_save``.
PRETRAINED_HEAD_TASK_TYPES = frozenset({"CAUSAL_LM", "SEQ_2_SEQ_LM"})

# Fields PEFT fills itself or that the recipe owns.
_RESERVED = {"peft_type", "task_type", "base_model_name_or_path", "revision", "inference_mode", "auto_mapping",
             "base_model_type", "base_hidden_size"}


def peft_config_class(method: str) -> type:
    """Return the PEFT config class for a method name such as 'lora', 'ia3', 'prefix-tuning' or a registered custom one."""
    from peft import PEFT_TYPE_TO_CONFIG_MAPPING

    import hf_transfer_kit.adapters  # noqa: F401  (registers BOTTLENECK, whatever was imported before)

    key = method.upper().replace("-", "_")
    if key not in PEFT_TYPE_TO_CONFIG_MAPPING:
        names = [str(k.value if hasattr(k, "value") else k).lower() for k in PEFT_TYPE_TO_CONFIG_MAPPING]
        raise ConfigError("strategy.method", method,
                          f"unknown PEFT method.{closest(method.lower(), names)} Available: {', '.join(names)}.")
    return PEFT_TYPE_TO_CONFIG_MAPPING[key]


def method_fields(config_cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(config_cls) if f.init and f.name not in _RESERVED}


@dataclass
class PeftStrategyConfig(StrategyConfig):
    name: str = field(default="peft", metadata={"help": "peft: any PEFT method by name; its config fields go beside it."})
    method: Optional[str] = field(default=None, metadata={"help": "PEFT method: ia3, loha, lokr, oft, vera, "
                                  "prefix_tuning, adalora, ... (any key of peft.PEFT_TYPE_TO_CONFIG_MAPPING)."})
    options: dict[str, Any] = field(default_factory=dict, metadata={"help": "The method's config fields (written "
                                    "flat beside name/method in YAML). target_modules: auto detects per architecture."})
    freeze_bottom_layers: int = field(default=0, metadata={"help": "Freezing-aware adapters: no adapter in the N "
                                      "bottom blocks of the layer stack, which stay frozen with everything below "
                                      "them (embeddings, a CNN's stem and its batch norms). No gradient is needed "
                                      "below the lowest adapted block, so the backward pass stops there: less time "
                                      "and activation memory per step, as with partial freezing."})

    default_method: ClassVar[Optional[str]] = None
    default_options: ClassVar[dict[str, Any]] = {}
    trains_beside_frozen_base: ClassVar[bool] = True

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PeftStrategyConfig:
        raw = dict(raw)
        name = raw.pop("name")
        method = raw.pop("method", None) or cls.default_method
        if cls.default_method and method.upper() != cls.default_method.upper():
            raise ConfigError("strategy.method", method, f"'{name}' always uses {cls.default_method}; "
                              f"use strategy.name=peft to pick another method.")
        if method is None:
            raise ConfigError("strategy.method", None, "name the PEFT method, e.g. strategy.method=ia3 (or loha, lokr, "
                              "oft, vera, prefix_tuning).")
        freeze_bottom = raw.pop("freeze_bottom_layers", 0)
        if not isinstance(freeze_bottom, int) or isinstance(freeze_bottom, bool) or freeze_bottom < 0:
            raise ConfigError("strategy.freeze_bottom_layers", freeze_bottom, "use 0 (adapters in every block) or a "
                              "positive number of bottom blocks to leave frozen, e.g. 3.")
        frozen_blocks = raw.pop("frozen_blocks", "eval")
        nested = raw.pop("options", None) or {}
        raw = {**nested, **raw}
        fields = method_fields(peft_config_class(method))
        for key in raw:
            if key not in fields:
                cls_name = peft_config_class(method).__name__
                raise ConfigError(f"strategy.{key}", raw[key], f"not a field of {cls_name}; remove it or use a valid "
                                  f"field.{closest(key, fields)} Valid: {', '.join(sorted(fields))}.")
        options = {**cls.default_options, **raw}
        if "target_modules" in fields:
            options.setdefault("target_modules", "auto")
            _check_target_spec(options["target_modules"])
        if adalora.is_adalora(method):
            options.setdefault("total_step", "auto")  # the Trainer's planned steps (adalora.py)
            _check_method_fields(peft_config_class(method), adalora.provisional_options(options))
        else:
            _check_method_fields(peft_config_class(method), options)
        return cls(name=name, method=method, options=options, freeze_bottom_layers=freeze_bottom,
                   frozen_blocks=frozen_blocks)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if not self.default_method:
            out["method"] = self.method
        if self.freeze_bottom_layers:
            out["freeze_bottom_layers"] = self.freeze_bottom_layers
        if self.frozen_blocks != "eval":
            out["frozen_blocks"] = self.frozen_blocks
        return {**out, **self.options}

    @classmethod
    def field_help(cls) -> list[tuple[str, Any, str]]:
        rows = [r for r in super().field_help() if r[0] != "options" and (r[0] != "method" or not cls.default_method)]
        if cls.default_method:
            for name, f in sorted(method_fields(peft_config_class(cls.default_method)).items()):
                default = cls.default_options.get(name, "auto" if name == "target_modules" else (
                    f.default if f.default is not dataclasses.MISSING else None))
                rows.append((name, default, " ".join(str(f.metadata.get("help", "")).split())))
        else:
            rows.append(("<field>", None, "any field of the chosen method's PEFT config class"))
        return rows


def _check_target_spec(targets: Any) -> None:
    """``target_modules`` is 'auto', one name / regex, or a non-empty list of names (PEFT fails obscurely otherwise)."""
    if isinstance(targets, str) and targets:
        return
    if isinstance(targets, (list, tuple)) and targets and all(isinstance(t, str) and t for t in targets):
        return
    raise ConfigError("strategy.target_modules", targets, "use 'auto', a module name or regex, or a non-empty list "
                      "of module names, e.g. [query, value].")


def strategy_error(err: Exception, options: Mapping[str, Any], method: str) -> ConfigError:
    """Re-express a rejection from PEFT (or our bottleneck method) as a ConfigError on ``strategy.<field>``.

    Our method's own ConfigErrors name the bare field (``placement``); PEFT raises ValueErrors whose text names
    the field (`r` should be a positive integer...). Either way the user sets it as ``strategy.<field>``.
    """
    if isinstance(err, ConfigError):
        param = err.param if err.param.startswith("strategy") else f"strategy.{err.param}"
        return ConfigError(param, err.value, err.fix)
    text = str(err)
    found = {k: m.start() for k in options if (m := re.search(rf"(?<![\w.]){re.escape(k)}(?!\w)", text))}
    named = sorted(found, key=found.get)  # the field the message names first
    reason = " ".join(text.split())[:300]
    if named:
        return ConfigError(f"strategy.{named[0]}", options[named[0]], f"{method} rejected it ({reason}); change "
                           f"strategy.{named[0]}.")
    return ConfigError("strategy", dict(options), f"{method} rejected these settings ({reason}); change the "
                       "strategy fields it names.")


def _check_method_fields(config_cls: type, options: Mapping[str, Any]) -> None:
    """Run the method config's own field checks now (at parse time) where they are ours: the bottleneck method
    raises ConfigError for a bad placement or size. PEFT's own classes check little here and some need the
    resolved target modules, so their errors are left to :meth:`PeftStrategy.apply` (still before training)."""
    kwargs = {k: v for k, v in options.items() if not (k == "target_modules" and v == "auto")}
    try:
        config_cls(**kwargs)
    except ConfigError as err:
        raise strategy_error(err, options, config_cls.__name__) from err
    except Exception:  # noqa: BLE001 -- PEFT's own checks: reported with the model in PeftStrategy.apply
        return


def _above_frozen_layers(model: nn.Module, options: Mapping[str, Any], bottom: list[str], count: int,
                         method: str) -> dict[str, Any]:
    """``target_modules`` (and IA3's ``feedforward_modules``) as the full names of the matching modules above the
    frozen bottom blocks."""
    targets = options.get("target_modules")
    if not isinstance(targets, (list, tuple)):
        raise ConfigError("strategy.freeze_bottom_layers", count, f"{method} with target_modules={targets!r} cannot "
                          "be limited to the top blocks; list the target modules by name, or use 0.")

    def matches(name: str, suffixes: Any) -> bool:
        return any(name == s or name.endswith("." + s) for s in suffixes)

    below = tuple(f"{b}." for b in bottom)
    kept = [name for name, _ in model.named_modules()
            if matches(name, targets) and not (name in bottom or name.startswith(below))]
    out: dict[str, Any] = {"target_modules": kept}
    if options.get("feedforward_modules"):
        out["feedforward_modules"] = [name for name in kept if matches(name, options["feedforward_modules"])]
    return out


def _check_targets(model: nn.Module, targets: list[str]) -> None:
    names = [n for n, _ in model.named_modules()]
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        leaves = sorted({n.rsplit(".", 1)[-1] for n in linear_module_names(model)})
        raise ConfigError("strategy.target_modules", missing,
                          f"not in the model; choose among its linear layers {leaves}, or use 'auto'.")


@register_strategy
class PeftStrategy(Strategy):
    name = "peft"
    config_cls = PeftStrategyConfig
    saves_adapter = True

    def check_training(self, args: Any) -> None:
        if adalora.is_adalora(self.config.method):  # type: ignore[attr-defined]
            adalora.check_training(args)

    def callbacks(self) -> list[Any]:
        cfg: PeftStrategyConfig = self.config  # type: ignore[assignment]
        if adalora.is_adalora(cfg.method):  # PEFT leaves the rank reallocation to the training loop
            return [adalora.RankBudget(auto_total=cfg.options.get("total_step") == "auto")]
        return []

    def resolve_options(self, model: nn.Module, bottom: list[str]) -> dict[str, Any]:
        """Fill ``target_modules: auto`` and ``modules_to_save`` for this model; ``bottom``: the frozen modules
        (``freeze_bottom_layers``), where no target may sit."""
        import peft.utils.constants as constants

        cfg: PeftStrategyConfig = self.config  # type: ignore[assignment]
        method = str(cfg.method).upper().replace("-", "_")
        fields = method_fields(peft_config_class(method))
        options = dict(cfg.options)
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        if options.get("target_modules") == "auto":
            # PEFT's own per-architecture table where it has one, else ours (attention projections, a CNN's
            # 1x1 convolutions, or all linear layers: see anatomy.default_target_modules); a method without a
            # table (our bottleneck adapters) detects targets itself from None.
            mapping = getattr(constants, f"TRANSFORMERS_MODELS_TO_{method}_TARGET_MODULES_MAPPING", None)
            if mapping is None:
                options["target_modules"] = None
            else:
                options["target_modules"] = (list(mapping[model_type]) if model_type in mapping
                                             else default_target_modules(model))
            ff = getattr(constants, f"TRANSFORMERS_MODELS_TO_{method}_FEEDFORWARD_MODULES_MAPPING", {})
            if "feedforward_modules" in fields and options.get("feedforward_modules") is None:
                # IA3 needs the list (it scales a feed-forward layer's input, others' output); none where unknown
                options["feedforward_modules"] = list(ff[model_type]) if model_type in ff else []
        targets = options.get("target_modules")
        if isinstance(targets, (list, tuple)):
            _check_targets(model, list(targets))
        if bottom:
            options.update(_above_frozen_layers(model, options, bottom, cfg.freeze_bottom_layers, method))
        if "modules_to_save" in fields and not options.get("modules_to_save") and \
                self.peft_task_type not in PRETRAINED_HEAD_TASK_TYPES:
            # the head learns in full; batch norms (CNNs) adapt their statistics and affine terms and are saved too
            options["modules_to_save"] = head_module_names(model) + running_stat_module_names(model) or None
        return options

    def apply(self, model: nn.Module) -> nn.Module:
        from peft import get_peft_model

        cfg: PeftStrategyConfig = self.config  # type: ignore[assignment]
        config_cls = peft_config_class(str(cfg.method))
        # named before PEFT wraps anything: what sits at or below the frozen bottom blocks
        bottom = bottom_module_names(model, cfg.freeze_bottom_layers) if cfg.freeze_bottom_layers else []
        options = self.resolve_options(model, bottom)
        try:
            built = adalora.provisional_options(options) if adalora.is_adalora(cfg.method) else options
            peft_config = config_cls(task_type=self.peft_task_type, **built)
            self.resolved_options = options
            peft_model = get_peft_model(model, peft_config)
        except (TypeError, ValueError) as err:  # ConfigError and PEFT's errors (NoMatchingPeftModuleError...)
            raise strategy_error(err, options, config_cls.__name__) from err
        # modules_to_save copies of bottom-block batch norms stay saved (their running statistics still move in
        # training mode) but learn nothing, so no gradient reaches below the lowest adapted block
        below = [f".{name}." for name in bottom]
        for name, parameter in peft_model.named_parameters():
            if any(prefix in f".{name}" for prefix in below):
                parameter.requires_grad_(False)
        return peft_model




@dataclass
class LoraStrategyConfig(PeftStrategyConfig):
    name: str = field(default="lora", metadata={"help": "lora: low-rank adapters (peft.LoraConfig; DoRA via "
                      "use_dora, rsLoRA via use_rslora)."})
    method: Optional[str] = field(default="LORA", metadata={"help": "Always LORA."})

    default_method: ClassVar[Optional[str]] = "LORA"
    default_options: ClassVar[dict[str, Any]] = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.1}

    def __post_init__(self) -> None:
        super().__post_init__()
        # peft.LoraConfig accepts r=0 or a dropout of 2 and fails (or silently does nothing) later; catch it here.
        r, alpha, dropout = (self.options.get(k) for k in ("r", "lora_alpha", "lora_dropout"))
        if not isinstance(r, int) or isinstance(r, bool) or r < 1:
            raise ConfigError("strategy.r", r, "use a positive integer rank, e.g. 8.")
        if not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ConfigError("strategy.lora_alpha", alpha, "use a positive number, e.g. 2*r.")
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ConfigError("strategy.lora_dropout", dropout, "use a probability in [0, 1), e.g. 0.1.")


@register_strategy
class LoraStrategy(PeftStrategy):
    name = "lora"
    config_cls = LoraStrategyConfig

"""k-bit base models under adapters (QLoRA): ``model.load_in_4bit`` / ``model.load_in_8bit`` through bitsandbytes.

The pretrained linear layers load quantized (4-bit NF4 with double quantization, or LLM.int8) and stay frozen;
only the adapter trains. The task head is kept in full precision: it is new, it trains, and bitsandbytes would
otherwise quantize it like any other linear layer (a long-standing PEFT pain point). Which modules are the head is
read from the model class itself, built on the meta device (``strategies.anatomy.head_module_names``), never
from a list of usual names. PEFT's ``prepare_model_for_kbit_training`` then casts the remaining small parameters
(norms, embeddings) to fp32 and lets gradients reach the adapters through the frozen embeddings.

Merging for export (``hf-transfer-kit export --merge``) dequantizes the base first (``PreTrainedModel.dequantize``):
the adapter learnt against the quantized weights, so it is folded into those, giving an fp32 model that computes
what the k-bit run computed (not into the original fp32 weights, which the adapter never saw).

bitsandbytes runs 4-bit and 8-bit layers on CPUs as well as CUDA GPUs since 0.45 (tests/test_kbit.py runs here).
"""

from __future__ import annotations

import importlib.util
from typing import Any, Optional

import torch

from .console import expected_new_head
from .errors import ConfigError
from .strategies.anatomy import head_module_names


def requested(model_config: Any) -> Optional[str]:
    """'4bit', '8bit' or None, from the ``model`` section."""
    if getattr(model_config, "load_in_4bit", False):
        return "4bit"
    if getattr(model_config, "load_in_8bit", False):
        return "8bit"
    return None


def check(model_config: Any, strategy_config: Any) -> None:
    """Refuse what cannot train on a k-bit base, when the config is read (before any data or model loads)."""
    bits = requested(model_config)
    if bits is None:
        return
    param = f"model.load_in_{bits}"
    if not getattr(type(strategy_config), "trains_beside_frozen_base", False):
        raise ConfigError(param, True, f"strategy {strategy_config.name} trains the pretrained weights themselves, "
                          "which k-bit loading freezes as packed integers; use an adapter strategy (lora, ia3, "
                          "loha, adapter, or any PEFT method: QLoRA), or set " + param + "=false.")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(param, True, "bitsandbytes is not installed; pip install 'hf-transfer-kit[kbit]' (it runs "
                          "on CPUs and CUDA GPUs), or set " + param + "=false.")


def check_engine(model_config: Any, engine: Optional[str]) -> None:
    """k-bit weights are packed integers that ZeRO-3 / FSDP cannot shard as they shard float tensors."""
    bits = requested(model_config)
    if bits is not None and engine is not None:
        raise ConfigError(f"model.load_in_{bits}", True, f"k-bit loading does not run under {engine} here; launch "
                          "with DDP (recipes/accelerate/multi_gpu.yaml), or train the adapter on the full-precision "
                          f"base (model.load_in_{bits}=false).")


def full_precision_modules(model_class: Any, model_path: str, **config_kwargs: Any) -> list[str]:
    """The head module(s) of ``model_class`` for the checkpoint at ``model_path``: the model built on the meta
    device (no memory, no weights read), then ``head_module_names``."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_path, **config_kwargs)
    with torch.device("meta"):
        model = model_class.from_config(config)
    return head_module_names(model)


def quantization_config(model_config: Any, model_class: Any = None, model_path: str = "",
                        **config_kwargs: Any) -> Any:
    """transformers' ``BitsAndBytesConfig`` for the ``model`` section, keeping ``model_class``'s head in full
    precision (a bare backbone, ``model_class`` None, has no head to keep); None when not k-bit."""
    bits = requested(model_config)
    if bits is None:
        return None
    from transformers import BitsAndBytesConfig

    keep = full_precision_modules(model_class, model_path, **config_kwargs) if model_class is not None else []
    if bits == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=keep or None)
    compute = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute, llm_int8_skip_modules=keep or None)


def prepare(model: Any, gradient_checkpointing: bool) -> Any:
    """PEFT's preparation of a k-bit model for adapter training (norms and other small parameters in fp32, inputs
    requiring grad); gradient checkpointing only when the run asks for it.

    bitsandbytes 0.50 on a CPU with AVX512-BF16 repacks a 4-bit weight into an inference-only layout the first
    time the layer runs in eval mode, for good: every later forward, training ones included, then takes a kernel
    without autograd and fails ("a view of a leaf Variable ... in-place"). A run evaluates before and while it
    trains (baselines, frozen blocks held in eval mode), so training models keep the trainable layout."""
    if not getattr(model, "is_quantized", False):
        return model
    from peft import prepare_model_for_kbit_training

    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)


def dequantized(model: Any) -> Any:
    """``model`` with its k-bit layers turned back into fp32 ``nn.Linear`` (what an adapter merges into)."""
    if getattr(model, "is_quantized", False):
        with expected_new_head():  # transformers' notice that it dequantizes: what was asked for
            model.dequantize()
    return model

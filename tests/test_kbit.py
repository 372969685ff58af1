"""k-bit base models under adapters (kbit.py): 4-bit NF4 and LLM.int8 through bitsandbytes, which runs on CPUs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import MINILM, toy_dataset

pytest.importorskip("bitsandbytes")

from hf_transfer_kit import TextClassificationRecipe  # noqa: E402
from hf_transfer_kit.config import config_from_dict  # noqa: E402
from hf_transfer_kit.errors import ConfigError  # noqa: E402

TEXTS = ["alpha filler words here", "the beta keyword sits here", "gamma among other words", "nothing at all"]


def kbit_config(tmp_path: Path, model_dir: str, bits: str, **training: object) -> object:
    return config_from_dict({
        "output_dir": str(tmp_path / "out"), "baselines": False,
        "model": {"name_or_path": model_dir, f"load_in_{bits}": True},
        "data": {"dataset": None, "max_length": 16, "test_size": 0.25},
        "strategy": {"name": "lora", "r": 8, "lora_dropout": 0.0},
        "training": {"max_steps": 4, "per_device_train_batch_size": 8, "learning_rate": 1e-2, "logging_steps": 1,
                     "eval_strategy": "no", "bf16": False, "disable_tqdm": True, **training}})


def module_types(model: nn.Module) -> set[str]:
    return {type(m).__name__ for m in model.modules()}


@pytest.mark.parametrize("bits, layer", [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_kbit_base_with_full_precision_head(tmp_path: Path, tiny_model_dir: str, bits: str, layer: str) -> None:
    """The pretrained linear layers load quantized and frozen, the new head stays an fp32 nn.Linear and trains,
    the parameter count is the model's real size, and the saved adapter reloads onto a k-bit base again."""
    from transformers import AutoModelForSequenceClassification

    from hf_transfer_kit.inference import load_for_inference

    recipe = TextClassificationRecipe(kbit_config(tmp_path, tiny_model_dir, bits), train_dataset=toy_dataset(48))
    recipe.setup()
    model = recipe.model
    assert layer in module_types(model)
    heads = [m for name, m in model.named_modules() if name.endswith("classifier.modules_to_save.default")]
    assert len(heads) == 1 and type(heads[0]) is nn.Linear and heads[0].weight.dtype == torch.float32
    assert heads[0].weight.requires_grad
    assert not any(p.requires_grad for n, p in model.named_parameters() if "lora_" not in n and "classifier" not in n)
    plain = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)
    # 4-bit weights pack two values per element: counted unpacked, the model's real size (+ LoRA and the head copy)
    assert recipe.parameters.total == sum(p.numel() for p in plain.parameters()) + recipe.parameters.trainable
    before = heads[0].weight.detach().clone()
    result = recipe.run()  # sets up again: the same seed builds the same head, which then trains
    head = recipe.model.get_submodule("base_model.model.classifier.modules_to_save.default")
    assert not torch.equal(head.weight.detach(), before)
    assert (result.output_dir / "adapter_model.safetensors").is_file()
    assert not (result.output_dir / "model.safetensors").exists()

    reloaded, _, config = load_for_inference(result.output_dir)
    assert config.model.load_in_4bit == (bits == "4bit") and layer in module_types(reloaded)


@pytest.mark.slow
def test_qlora_learns_and_merged_export_computes_what_the_4bit_model_computed(tmp_path: Path) -> None:
    """Real MiniLM in 4-bit NF4 with LoRA learns the toy topics; ``export --merge`` dequantizes the base before
    folding the adapter in, so the fp32 export gives the k-bit model's logits (not the original fp32 weights')."""
    from hf_transfer_kit.cli.export import export
    from hf_transfer_kit.inference import load_for_inference, text_logits

    recipe = TextClassificationRecipe(kbit_config(tmp_path, MINILM, "4bit", max_steps=30, learning_rate=5e-3),
                                      train_dataset=toy_dataset(120), test_dataset=toy_dataset(30, seed=1))
    result = recipe.run()
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses
    assert result.metrics["test"]["accuracy"] >= 0.8, result.metrics["test"]

    quantized, tokenizer, _ = load_for_inference(result.output_dir)
    for module in quantized.modules():  # the fp32 k-bit computation (not bitsandbytes' bf16 kernel on AVX512-BF16)
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    dest = export(result.output_dir, tmp_path / "merged", merge=True)
    from transformers import AutoModelForSequenceClassification

    merged = AutoModelForSequenceClassification.from_pretrained(dest).eval()
    assert not module_types(merged) & {"Linear4bit", "Linear8bitLt"}
    want, got = (text_logits(m, tokenizer, TEXTS, max_length=16) for m in (quantized, merged))
    assert abs(want - got).max() < 2e-4


@pytest.mark.parametrize("model, strategy, param", [
    ({"load_in_4bit": True}, {"name": "full"}, "model.load_in_4bit"),
    ({"load_in_8bit": True}, {"name": "bitfit"}, "model.load_in_8bit"),
    ({"load_in_4bit": True, "load_in_8bit": True}, {"name": "lora"}, "model.load_in_8bit"),
])
def test_what_cannot_train_on_a_kbit_base_is_refused_when_the_config_is_read(model: dict, strategy: dict,
                                                                             param: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"model": model, "strategy": strategy})
    assert info.value.param == param

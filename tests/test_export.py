"""``export``: LoRA merged into a plain transformers model predicts like the adapter; bottleneck adapters
refuse --merge before writing anything; the unmerged export reloads anywhere with PEFT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from conftest import tiny_config, toy_dataset
from hf_transfer_kit import TextClassificationRecipe, load_for_inference
from hf_transfer_kit.cli import main
from hf_transfer_kit.cli.export import export
from hf_transfer_kit.errors import ConfigError

TEXTS = ["football at the park", "a new computer", "pasta and sauce"]


def train(tmp_path: Path, model_dir: str, strategy: dict) -> Path:
    cfg = tiny_config(tmp_path, model_dir, strategy, max_steps=4)
    return TextClassificationRecipe(cfg, train_dataset=toy_dataset(24)).run().output_dir


def logits(model, tokenizer) -> torch.Tensor:
    with torch.inference_mode():
        return model.eval()(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits


@pytest.mark.parametrize("strategy", [{"name": "lora", "r": 4, "lora_alpha": 32}, {"name": "peft", "method": "ia3"}],
                         ids=["lora", "ia3"])
def test_merged_export_is_plain_transformers_and_predicts_identically(tmp_path: Path, tiny_model_dir: str,
                                                                      strategy: dict) -> None:
    run = train(tmp_path, tiny_model_dir, strategy)
    adapter_model, tokenizer, _ = load_for_inference(run)
    assert main(["export", str(run), str(tmp_path / "merged"), "--merge"]) == 0
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged")
    assert type(plain).__name__ == "BertForSequenceClassification"
    assert plain.config.id2label == {0: "food", 1: "sports", 2: "tech"}
    plain_tok = AutoTokenizer.from_pretrained(tmp_path / "merged")
    torch.testing.assert_close(logits(plain, plain_tok), logits(adapter_model, tokenizer), rtol=1e-5, atol=1e-5)


def test_bottleneck_merge_is_refused_before_writing(tmp_path: Path, tiny_model_dir: str) -> None:
    run = train(tmp_path, tiny_model_dir, {"name": "adapter", "reduction_factor": 8})
    with pytest.raises(ConfigError) as info:
        export(run, tmp_path / "merged", merge=True)
    assert info.value.param == "--merge" and "without --merge" in str(info.value)
    assert not (tmp_path / "merged").exists() and not (tmp_path / ".merged.partial").exists()


def test_unmerged_adapter_export_reloads_identically(tmp_path: Path, tiny_model_dir: str) -> None:
    run = train(tmp_path, tiny_model_dir, {"name": "adapter", "reduction_factor": 8})
    original, tokenizer, _ = load_for_inference(run)
    out = export(run, tmp_path / "export")
    assert (out / "base_model" / "config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    reloaded, tok2, config = load_for_inference(out)
    assert config.model.name_or_path == str((out / "base_model").resolve())
    torch.testing.assert_close(logits(reloaded, tok2), logits(original, tokenizer), rtol=1e-6, atol=1e-6)

    from peft import AutoPeftModelForSequenceClassification

    auto = AutoPeftModelForSequenceClassification.from_pretrained(str(out))
    torch.testing.assert_close(logits(auto, tok2), logits(original, tokenizer), rtol=1e-6, atol=1e-6)


def test_full_fine_tune_export_is_a_copy(tmp_path: Path, tiny_model_dir: str) -> None:
    run = train(tmp_path, tiny_model_dir, {"name": "full"})
    out = export(run, tmp_path / "copy", merge=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in run.iterdir())
    with pytest.raises(ConfigError, match="overwrite"):
        export(run, out)

"""``strategy.freeze_bottom_layers`` on PEFT strategies: adapters only above the frozen bottom blocks, so the
backward pass stops at the lowest adapted block (less time and activation memory), and CNN batch norms below it
are still saved with their running statistics."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.strategies import build_strategy_config, get_strategy
from hf_transfer_kit.vision import EfficientNetLiteConfig


def block_outputs_need_grad(model: torch.nn.Module, stack: torch.nn.ModuleList, **inputs) -> list[bool]:
    """Per block of ``stack``: does its output require a gradient in a training-mode forward?"""
    seen: list[bool] = []
    handles = [block.register_forward_hook(
        lambda m, a, out: seen.append(bool((out[0] if isinstance(out, tuple) else out).requires_grad)))
        for block in stack]
    model.train()
    model(**inputs)
    for handle in handles:
        handle.remove()
    return seen


@pytest.mark.parametrize("strategy", [{"name": "lora", "r": 2}, {"name": "peft", "method": "ia3"}])
def test_text_adapters_sit_above_the_frozen_blocks_and_backward_stops_there(tiny_model_dir: str,
                                                                            strategy: dict) -> None:
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)
    stack = model.bert.encoder.layer
    peft_model = get_strategy(build_strategy_config({**strategy, "freeze_bottom_layers": 1}), "SEQ_CLS").apply(model)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    adapted = [n for n in trainable if "classifier" not in n]
    assert adapted and all(".layer.1." in n for n in adapted), trainable
    assert block_outputs_need_grad(peft_model, stack, input_ids=torch.randint(5, 999, (2, 8))) == [False, True]
    # without it, every block is adapted and the backward pass runs through all of them
    torch.manual_seed(0)
    plain = get_strategy(build_strategy_config(strategy), "SEQ_CLS").apply(
        AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3))
    assert block_outputs_need_grad(plain, plain.base_model.model.bert.encoder.layer,
                                   input_ids=torch.randint(5, 999, (2, 8))) == [True, True]


def test_cnn_bottom_batch_norms_are_frozen_but_saved_with_their_statistics(tmp_path) -> None:
    from peft import PeftModel

    torch.manual_seed(0)
    config = EfficientNetLiteConfig(stem_channels=8, hidden_sizes=[8, 16], depths=[1, 2], kernel_sizes=[3, 5],
                                    strides=[1, 2], expand_ratios=[1, 4], hidden_dim=32, num_labels=3)
    AutoModelForImageClassification.from_config(config).save_pretrained(tmp_path / "base")
    model = AutoModelForImageClassification.from_pretrained(tmp_path / "base")
    stack = model.efficientnet_lite.encoder.blocks
    peft_model = get_strategy(build_strategy_config({"name": "lora", "r": 2, "freeze_bottom_layers": 2})).apply(model)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert not any(f"blocks.{i}." in n or "embeddings" in n for n in trainable for i in (0, 1)), trainable
    assert any("blocks.2." in n for n in trainable)
    pixels = torch.randn(4, 3, 32, 32)
    assert block_outputs_need_grad(peft_model, stack, pixel_values=pixels) == [False, False, True]
    peft_model.eval()
    with torch.no_grad():
        expected = peft_model(pixel_values=pixels).logits
    peft_model.save_pretrained(tmp_path / "adapter")  # the bottom blocks' running statistics moved: they must be saved
    reloaded = PeftModel.from_pretrained(AutoModelForImageClassification.from_pretrained(tmp_path / "base"),
                                         tmp_path / "adapter").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(pixel_values=pixels).logits, expected)


@pytest.mark.parametrize("value, fix", [(-1, "positive number"), (3, "at most 2"), ("two", "positive number")])
def test_bad_counts_are_refused(tiny_model_dir: str, value, fix: str) -> None:
    with pytest.raises(ConfigError, match=fix) as err:
        strategy = get_strategy(build_strategy_config({"name": "lora", "freeze_bottom_layers": value}), "SEQ_CLS")
        strategy.apply(AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3))
    assert err.value.param == "strategy.freeze_bottom_layers"


def test_round_trips_through_the_saved_config() -> None:
    cfg = build_strategy_config({"name": "peft", "method": "ia3", "freeze_bottom_layers": 3})
    assert cfg.to_dict()["freeze_bottom_layers"] == 3
    assert build_strategy_config(cfg.to_dict()).freeze_bottom_layers == 3
    assert "freeze_bottom_layers" not in build_strategy_config({"name": "lora"}).to_dict()

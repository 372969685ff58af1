"""The benchmark's FLOP count (benchmarks/flops.py) on tiny models with the kit's real strategies: full fine-tuning
is 6 x matmul parameters x tokens, a linear probe ~2 x, frozen bottom blocks and LoRA in between; the per-layer
forward count agrees with torch's own FLOP counter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import BertConfig, BertForSequenceClassification

from hf_transfer_kit.strategies import build_strategy_config, get_strategy
from hf_transfer_kit.vision import EfficientNetLiteConfig, EfficientNetLiteForImageClassification

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.flops import layer_flops, text_layer_flops, training_flops  # noqa: E402

H, I, LAYERS, LABELS, TOKENS = 32, 37, 4, 3, 20.5
PER_LAYER = 4 * H * H + 2 * H * I  # Q, K, V, attention output; FFN in and out: the per-token matmul weights
N = LAYERS * PER_LAYER
HEAD = H * H + H * LABELS  # pooler and classifier: once per example (on [CLS]), not per token


@pytest.fixture()
def bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=H, num_hidden_layers=LAYERS, num_attention_heads=2,
                        intermediate_size=I, max_position_embeddings=64, num_labels=LABELS, attn_implementation="eager")
    return BertForSequenceClassification(config)


def counted(model: torch.nn.Module, strategy: dict) -> tuple[torch.nn.Module, object]:
    model = get_strategy(build_strategy_config(strategy), "SEQ_CLS").apply(model)
    return model, training_flops(model, text_layer_flops(model, TOKENS))


def test_forward_count_matches_torchs_flop_counter(bert: BertForSequenceClassification) -> None:
    ids = torch.ones((1, 24), dtype=torch.long)
    ours = layer_flops(bert, {"input_ids": ids})
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        bert.eval()(input_ids=ids)
    by_op = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    linear = sum(n for op, n in by_op.items() if op.split(".")[-1] in ("addmm", "mm"))
    assert sum(ours.values()) == linear == 2 * (N * 24 + HEAD)
    assert any(op.split(".")[-1] == "bmm" for op in by_op)  # attention's score matmuls exist and are left out
    assert bert.training is False and len(ours) == LAYERS * 6 + 2


def test_layer_flops_restores_every_modules_mode(bert: BertForSequenceClassification) -> None:
    bert.train()
    bert.bert.embeddings.eval()  # a frozen block held in eval mode (strategies/frozen.py) stays so
    layer_flops(bert, {"input_ids": torch.ones((1, 8), dtype=torch.long)})
    assert bert.training and bert.bert.encoder.training and not bert.bert.embeddings.training


def test_full_fine_tuning_is_six_times_matmul_parameters_times_tokens(bert: BertForSequenceClassification) -> None:
    _, flops = counted(bert, {"name": "full"})
    forward = 2 * (N * TOKENS + HEAD)
    assert flops.forward == pytest.approx(forward)
    assert flops.activation_gradients == pytest.approx(forward) and flops.weight_gradients == pytest.approx(forward)
    assert flops.total == pytest.approx(6 * (N * TOKENS + HEAD))


def test_linear_probe_is_the_forward_pass_plus_the_head(bert: BertForSequenceClassification) -> None:
    _, flops = counted(bert, {"name": "linear_probe"})
    assert flops.forward == pytest.approx(2 * (N * TOKENS + HEAD))
    assert flops.activation_gradients == flops.weight_gradients == 2 * H * LABELS  # the classifier only
    assert flops.total == pytest.approx(2 * N * TOKENS + 2 * HEAD + 4 * H * LABELS)
    assert flops.total / (6 * (N * TOKENS + HEAD)) == pytest.approx(1 / 3, abs=0.01)


@pytest.mark.parametrize("frozen", [1, 2, 3])
def test_partial_backward_stops_at_the_lowest_trained_block(bert: BertForSequenceClassification, frozen: int) -> None:
    _, flops = counted(bert, {"name": "partial", "freeze_embeddings": True, "freeze_bottom_layers": frozen})
    above = 2 * ((LAYERS - frozen) * PER_LAYER * TOKENS + HEAD)  # the trained blocks, the pooler, the head
    assert flops.forward == pytest.approx(2 * (N * TOKENS + HEAD))
    assert flops.activation_gradients == pytest.approx(above) and flops.weight_gradients == pytest.approx(above)
    full = 6 * (N * TOKENS + HEAD)
    assert full / 3 < flops.total < full


def test_lora_counts_its_adapters_and_no_base_weight_gradients(bert: BertForSequenceClassification) -> None:
    r = 4
    model, flops = counted(bert, {"name": "lora", "r": r})  # BERT: query and value, every block
    adapters = LAYERS * 2 * (H * r + r * H)
    forward = 2 * ((N + adapters) * TOKENS + HEAD)
    assert flops.forward == pytest.approx(forward)
    assert flops.activation_gradients == pytest.approx(forward)  # block 0 trains: backward runs through all blocks
    assert flops.weight_gradients == pytest.approx(2 * (adapters * TOKENS + H * LABELS))  # adapters and classifier
    assert 2 * N * TOKENS < flops.total < 6 * N * TOKENS
    # adapters only in the top blocks (freeze_bottom_layers): the backward stops below them
    torch.manual_seed(0)
    top, flops_top = counted(BertForSequenceClassification(bert.config), {"name": "lora", "r": r,
                                                                          "freeze_bottom_layers": 2})
    assert flops_top.activation_gradients == pytest.approx(2 * (2 * (PER_LAYER + 4 * H * r) * TOKENS + HEAD))
    assert flops_top.total < flops.total


def test_bitfit_trains_no_matmul_weight_but_the_head(bert: BertForSequenceClassification) -> None:
    _, flops = counted(bert, {"name": "bitfit"})  # the embeddings' LayerNorm bias trains: backward runs to the bottom
    assert flops.activation_gradients == pytest.approx(flops.forward)
    assert flops.weight_gradients == 2 * H * LABELS


def test_nothing_trainable_costs_the_forward_pass_only(bert: BertForSequenceClassification) -> None:
    bert.requires_grad_(False)
    flops = training_flops(bert, text_layer_flops(bert, TOKENS))
    assert flops.activation_gradients == flops.weight_gradients == 0 and flops.total == flops.forward > 0


def test_images_count_convolutions_like_torch_and_skip_frozen_blocks() -> None:
    torch.manual_seed(0)
    tiny = dict(stem_channels=8, hidden_sizes=[8, 16, 24], depths=[1, 2, 1], kernel_sizes=[3, 5, 3],
                strides=[1, 2, 2], expand_ratios=[1, 4, 4], hidden_dim=32, num_labels=3)
    model = EfficientNetLiteForImageClassification(EfficientNetLiteConfig(**tiny))
    pixels = torch.randn(1, 3, 32, 32)
    forward = layer_flops(model, {"pixel_values": pixels})
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(pixel_values=pixels)
    assert sum(forward.values()) == counter.get_total_flops()  # convolutions (depthwise too) and the classifier
    full = training_flops(model, forward)
    assert full.total == pytest.approx(3 * full.forward)
    model = get_strategy(build_strategy_config({"name": "partial", "freeze_embeddings": True,
                                                "freeze_bottom_layers": 2})).apply(model)
    partial = training_flops(model, forward)
    frozen = sum(f for name, f in forward.items() if name.startswith(("efficientnet_lite.embeddings.",
                                                                       "efficientnet_lite.encoder.blocks.0.",
                                                                       "efficientnet_lite.encoder.blocks.1.")))
    assert partial.activation_gradients == partial.weight_gradients == pytest.approx(full.forward - frozen)

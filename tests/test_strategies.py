"""Each strategy on a tiny random BERT: exactly the right parameters train, bad settings fail clearly."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.strategies import STRATEGIES, build_strategy_config, get_strategy, parameter_report


@pytest.fixture()
def model(tiny_model_dir: str):
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)


def apply(model, raw: dict):
    return get_strategy(build_strategy_config(raw), "SEQ_CLS").apply(model)


def count(model, predicate=lambda n: True) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if predicate(n))


def test_registry_has_every_documented_strategy() -> None:
    assert {"full", "partial", "linear_probe", "bitfit", "lora", "peft"} <= set(STRATEGIES)


def test_full_trains_everything(model) -> None:
    report = parameter_report(apply(model, {"name": "full"}))
    assert report.trainable == report.total == count(model)
    assert report.frozen_modules == [] and report.trainable_modules == ["<all>"]


def test_linear_probe_trains_only_the_head(model) -> None:
    report = parameter_report(apply(model, {"name": "linear_probe"}))
    assert report.trainable == 32 * 3 + 3  # classifier weight + bias
    assert report.trainable_modules == ["classifier"] and "bert" in report.frozen_modules


def test_bitfit_trains_biases_and_head(model) -> None:
    expected = count(model, lambda n: n.endswith(".bias") or n.startswith("classifier"))
    report = parameter_report(apply(model, {"name": "bitfit"}))
    assert report.trainable == expected
    assert all(n.endswith("bias") or n.startswith("classifier") for n, p in model.named_parameters() if p.requires_grad)


def test_partial_freezes_embeddings_bottom_layers_and_patterns(model) -> None:
    apply(model, {"name": "partial", "freeze_embeddings": True, "freeze_bottom_layers": 1,
                  "freeze": ["bert.pooler", "*.attention.self.query.*"]})
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert all(n in frozen for n, _ in model.named_parameters() if n.startswith(("bert.embeddings", "bert.encoder.layer.0.", "bert.pooler")))
    assert "bert.encoder.layer.1.attention.self.query.weight" in frozen
    assert "bert.encoder.layer.1.attention.self.key.weight" not in frozen
    assert not any(n.startswith("classifier") for n in frozen)
    report = parameter_report(model)
    assert "bert.embeddings" in report.frozen_modules and "bert.encoder.layer.0" in report.frozen_modules


def test_lora_adds_adapters_on_auto_targets_and_trains_head(model) -> None:
    peft_model = apply(model, {"name": "lora", "r": 4})
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert any("query.lora_A" in n for n in trainable) and any("value.lora_B" in n for n in trainable)
    assert not any("key.lora" in n for n in trainable)
    assert any("classifier" in n for n in trainable)
    lora = count(peft_model, lambda n: "lora_" in n)
    assert lora == 2 * 2 * (32 * 4 + 4 * 32)  # 2 layers x (query, value) x (A + B)


def test_lora_options_pass_through_dora(model) -> None:
    peft_model = apply(model, {"name": "lora", "r": 2, "use_dora": True, "target_modules": ["key"]})
    names = [n for n, _ in peft_model.named_parameters()]
    assert any("key.lora_magnitude_vector" in n for n in names)


@pytest.mark.parametrize("method, marker", [("ia3", "ia3_l"), ("loha", "hada_w1_a"), ("lokr", "lokr_w1")])
def test_any_peft_method_by_name(model, method: str, marker: str) -> None:
    peft_model = apply(model, {"name": "peft", "method": method})
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert any(marker in n for n in trainable), trainable[:5]
    assert any("classifier" in n for n in trainable)
    assert parameter_report(peft_model).percent < 50


def test_freeze_pattern_matching_nothing_is_an_error(model) -> None:
    with pytest.raises(ConfigError) as info:
        apply(model, {"name": "partial", "freeze": ["encoder.layers.*"]})
    assert info.value.param == "strategy.freeze" and "encoder.layers.*" in str(info.value)
    assert "bert.embeddings" in str(info.value)  # shows real names to copy from


def test_too_many_frozen_layers_is_an_error(model) -> None:
    with pytest.raises(ConfigError, match="has 2 layers"):
        apply(model, {"name": "partial", "freeze_bottom_layers": 5})


def test_lora_targets_absent_from_model_are_an_error(model) -> None:
    with pytest.raises(ConfigError) as info:
        apply(model, {"name": "lora", "target_modules": ["q_proj", "value"]})
    assert info.value.param == "strategy.target_modules" and "q_proj" in str(info.value)
    assert "query" in str(info.value)  # suggests the model's real layers


def test_peft_config_rejection_is_reported_with_the_setting(model) -> None:
    with pytest.raises(ConfigError, match="LoraConfig rejected"):
        apply(model, {"name": "lora", "layers_pattern": "layer"})


@pytest.mark.parametrize("key, value", [("r", 0), ("lora_alpha", -2), ("lora_dropout", 1.5)])
def test_lora_numbers_are_checked_at_parse_time(key: str, value: float) -> None:
    with pytest.raises(ConfigError) as info:
        build_strategy_config({"name": "lora", key: value})
    assert info.value.param == f"strategy.{key}" and str(value) in str(info.value)

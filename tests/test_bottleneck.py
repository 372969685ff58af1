"""Bottleneck adapters (hf_transfer_kit.adapters) as a PEFT method, on tiny random models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors.torch
import torch
from peft import AutoPeftModelForSequenceClassification, PeftModel, get_peft_model
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    ViTConfig,
    ViTForImageClassification,
)

from hf_transfer_kit.adapters import BottleneckConfig, BottleneckMergeError
from hf_transfer_kit.adapters.bottleneck.layer import (
    BottleneckLayer,
    ParallelBottleneckLayer,
    SequentialBottleneckLayer,
)
from hf_transfer_kit.adapters.bottleneck.targets import LAYOUTS

HIDDEN, LAYERS, LABELS = 32, 2, 2
BERT_KWARGS = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=2, intermediate_size=37,
                   vocab_size=100)
PLACEMENTS = ["houlsby", "pfeiffer", "parallel"]
#: Decoder-only LMs (Llama, Mistral, Qwen2); pad_token_id lets their classification head pool a batch.
DECODER_KWARGS = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=2, num_key_value_heads=2,
                      intermediate_size=37, vocab_size=100, pad_token_id=0)


def make_bert(seed: int = 0, **overrides: object) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(BertConfig(**{**BERT_KWARGS, **overrides})).eval()


def make_vit(seed: int = 0) -> ViTForImageClassification:
    torch.manual_seed(seed)
    config = ViTConfig(image_size=8, patch_size=4, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                       num_attention_heads=2, intermediate_size=37, num_labels=3)
    return ViTForImageClassification(config).eval()


def text_batch() -> dict[str, torch.Tensor]:
    return {"input_ids": torch.randint(1, 100, (3, 9), generator=torch.Generator().manual_seed(1))}


def image_batch() -> dict[str, torch.Tensor]:
    return {"pixel_values": torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))}


@torch.no_grad()
def logits(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**batch).logits


@torch.no_grad()
def perturb(model: nn.Module, adapter_name: str = "default", seed: int = 123) -> None:
    """Give the adapter (and the trained head copy) non-zero random weights, as after training."""
    generator = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        if f".{adapter_name}." in name:
            param.copy_(torch.randn(param.shape, generator=generator) * 0.5)


def bottleneck_layers(model: nn.Module) -> list[BottleneckLayer]:
    return [m for m in model.modules() if isinstance(m, BottleneckLayer)]


# --- behaviour ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_identity_at_init_bert(placement: str) -> None:
    base = make_bert()
    expected = logits(base, text_batch())
    model = get_peft_model(base, BottleneckConfig(task_type="SEQ_CLS", placement=placement)).eval()
    torch.testing.assert_close(logits(model, text_batch()), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_identity_at_init_vit(placement: str) -> None:
    base = make_vit()
    expected = logits(base, image_batch())
    config = BottleneckConfig(placement=placement, modules_to_save=["classifier"])
    model = get_peft_model(base, config).eval()
    torch.testing.assert_close(logits(model, image_batch()), expected, atol=1e-6, rtol=0)
    assert len(bottleneck_layers(model)) == LAYERS * (2 if placement == "houlsby" else 1)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_only_adapters_and_head_are_trainable(placement: str) -> None:
    model = get_peft_model(make_bert(), BottleneckConfig(task_type="SEQ_CLS", placement=placement))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    assert all(".bottleneck_adapter.default." in n or "classifier.modules_to_save.default." in n
               for n in trainable), trainable
    assert any("classifier" in n for n in trainable)


@pytest.mark.parametrize(
    ("placement", "size_kwargs", "bottleneck", "scaling"),
    [
        ("houlsby", {}, HIDDEN // 16, 1.0),
        ("pfeiffer", {"reduction_factor": 4}, HIDDEN // 4, 1.0),
        ("parallel", {"bottleneck_size": 5}, 5, "learned"),
    ],
)
def test_trainable_parameter_count(placement: str, size_kwargs: dict, bottleneck: int, scaling: object) -> None:
    config = BottleneckConfig(task_type="SEQ_CLS", placement=placement, scaling=scaling, **size_kwargs)
    model = get_peft_model(make_bert(), config)
    per_adapter = (HIDDEN * bottleneck + bottleneck) + (bottleneck * HIDDEN + HIDDEN) + (scaling == "learned")
    adapters = LAYERS * (2 if placement == "houlsby" else 1)
    head = HIDDEN * LABELS + LABELS
    trainable, _ = model.get_nb_trainable_parameters()
    assert trainable == adapters * per_adapter + head


def test_sequential_adapter_sits_before_residual_and_layernorm() -> None:
    """BertOutput becomes LayerNorm(h' + adapter(h') + x) with h' = dense(intermediate)."""
    model = get_peft_model(make_bert(), BottleneckConfig(placement="pfeiffer", init_weights=False)).eval()
    output = model.base_model.model.bert.encoder.layer[0].output
    assert isinstance(output.dense, SequentialBottleneckLayer)
    intermediate, residual = torch.randn(2, 4, 37), torch.randn(2, 4, HIDDEN)
    with torch.no_grad():
        dense_out = output.dense.base_layer(intermediate)
        expected = output.LayerNorm(dense_out + output.dense.bottleneck_adapter["default"](dense_out) + residual)
        torch.testing.assert_close(output(intermediate, residual), expected)


def test_parallel_adapter_reads_ffn_input_and_adds_to_ffn_output() -> None:
    """BertOutput becomes LayerNorm(dense(intermediate) + adapter(x) + x) with x the FFN input."""
    model = get_peft_model(make_bert(), BottleneckConfig(placement="parallel", init_weights=False)).eval()
    wrapped = model.base_model.model.bert.encoder.layer[0].output
    assert isinstance(wrapped, ParallelBottleneckLayer)
    ffn = wrapped.base_layer
    intermediate, ffn_input = torch.randn(2, 4, 37), torch.randn(2, 4, HIDDEN)
    with torch.no_grad():
        adapter_out = wrapped.bottleneck_adapter["default"](ffn_input)
        expected = ffn.LayerNorm(ffn.dense(intermediate) + adapter_out + ffn_input)
        torch.testing.assert_close(wrapped(intermediate, ffn_input), expected)


def test_save_and_reload_gives_identical_logits(tmp_path: Path) -> None:
    config = BottleneckConfig(task_type="SEQ_CLS", placement="houlsby", scaling="learned")
    model = get_peft_model(make_bert(), config).eval()
    perturb(model)
    expected = logits(model, text_batch())
    assert not torch.allclose(expected, logits(make_bert(), text_batch()))

    model.save_pretrained(tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert "adapter_model.safetensors" in files and "adapter_model.bin" not in files
    saved = json.loads((tmp_path / "adapter_config.json").read_text())
    assert saved["peft_type"] == "BOTTLENECK" and saved["base_hidden_size"] == HIDDEN
    assert saved["base_model_type"] == "bert"

    saved_keys = safetensors.torch.load_file(tmp_path / "adapter_model.safetensors").keys()
    assert all(".default." not in k for k in saved_keys), "the adapter name must not be saved"

    reloaded = PeftModel.from_pretrained(make_bert(), tmp_path).eval()
    torch.testing.assert_close(logits(reloaded, text_batch()), expected, atol=1e-6, rtol=0)

    reloaded.load_adapter(tmp_path, adapter_name="again")
    reloaded.set_adapter("again")
    torch.testing.assert_close(logits(reloaded, text_batch()), expected, atol=1e-6, rtol=0)


def test_auto_peft_model_loads_base_and_adapter(tmp_path: Path) -> None:
    make_bert().save_pretrained(tmp_path / "base")
    base = AutoModelForSequenceClassification.from_pretrained(tmp_path / "base").eval()
    model = get_peft_model(base, BottleneckConfig(task_type="SEQ_CLS", placement="parallel")).eval()
    perturb(model)
    expected = logits(model, text_batch())
    model.save_pretrained(tmp_path / "adapter")

    reloaded = AutoPeftModelForSequenceClassification.from_pretrained(tmp_path / "adapter").eval()
    torch.testing.assert_close(logits(reloaded, text_batch()), expected, atol=1e-6, rtol=0)


def test_training_lowers_loss() -> None:
    """Class = which half of the vocabulary a sequence is drawn from; a few Adam steps must help."""
    model = get_peft_model(make_bert(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
                           BottleneckConfig(task_type="SEQ_CLS", placement="houlsby"))
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(16) % 2
    input_ids = torch.randint(1, 50, (16, 8), generator=generator) + 49 * labels[:, None]
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-2)

    def loss() -> torch.Tensor:
        return model(input_ids=input_ids, labels=labels).loss

    model.train()
    with torch.no_grad():
        before = loss().item()
    for _ in range(20):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    with torch.no_grad():
        after = loss().item()
    assert after < 0.7 * before
    ups = [layer.bottleneck_adapter["default"].up.weight for layer in bottleneck_layers(model)]
    assert all(up.abs().sum() > 0 for up in ups), "the adapters did not learn"


def test_multi_adapter_add_switch_delete() -> None:
    base = make_bert()
    base_logits = logits(base, text_batch())
    model = get_peft_model(base, BottleneckConfig(task_type="SEQ_CLS")).eval()
    perturb(model, "default", seed=1)
    default_logits = logits(model, text_batch())

    model.add_adapter("other", BottleneckConfig(task_type="SEQ_CLS", placement="pfeiffer", bottleneck_size=3))
    perturb(model, "other", seed=2)
    torch.testing.assert_close(logits(model, text_batch()), default_logits)  # adding does not activate

    model.set_adapter("other")
    other_logits = logits(model, text_batch())
    assert not torch.allclose(other_logits, default_logits)
    assert not torch.allclose(other_logits, base_logits)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".other." in n for n in trainable)

    with model.disable_adapter():
        torch.testing.assert_close(logits(model, text_batch()), base_logits)

    model.set_adapter("default")
    torch.testing.assert_close(logits(model, text_batch()), default_logits)

    model.delete_adapter("other")
    assert list(model.peft_config) == ["default"]
    assert all("other" not in n for n, _ in model.named_parameters())
    torch.testing.assert_close(logits(model, text_batch()), default_logits)


def test_unload_returns_the_base_model() -> None:
    base = make_bert()
    expected = logits(base, text_batch())
    model = get_peft_model(base, BottleneckConfig(placement="parallel"))
    perturb(model)
    unloaded = model.unload()
    assert not bottleneck_layers(unloaded)
    torch.testing.assert_close(logits(unloaded, text_batch()), expected)


def test_merge_raises_a_clear_error() -> None:
    model = get_peft_model(make_bert(), BottleneckConfig(task_type="SEQ_CLS"))
    for merge in (model.merge_and_unload, model.merge_adapter):
        with pytest.raises(BottleneckMergeError) as err:
            merge()
        message = str(err.value)
        assert "Bottleneck adapters cannot be merged" in message
        assert "save_pretrained" in message and "unload()" in message


@pytest.mark.parametrize("model_type", sorted(LAYOUTS))
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_default_targets_per_architecture(model_type: str, placement: str) -> None:
    torch.manual_seed(0)
    head: list[str] | None = ["classifier"]
    per_block = 2 if placement == "houlsby" else 1
    if model_type == "vit":
        base, batch = make_vit(), image_batch()
    elif model_type == "t5":  # encoder blocks: self-attention + FFN; decoder blocks: self-, cross-attention + FFN
        from transformers import T5Config, T5ForConditionalGeneration

        base = T5ForConditionalGeneration(T5Config(d_model=HIDDEN, d_kv=16, d_ff=37, num_layers=LAYERS, num_heads=2,
                                                   vocab_size=100)).eval()
        batch = {**text_batch(), "decoder_input_ids": text_batch()["input_ids"][:, :4]}
        head, per_block = None, {"houlsby": 5, "pfeiffer": 2, "parallel": 2}[placement]
    else:
        kwargs = {"distilbert": dict(dim=HIDDEN, n_layers=LAYERS, n_heads=2, hidden_dim=37, vocab_size=100),
                  "llama": DECODER_KWARGS, "mistral": DECODER_KWARGS, "qwen2": DECODER_KWARGS}.get(model_type, BERT_KWARGS)
        base = AutoModelForSequenceClassification.from_config(AutoConfig.for_model(model_type, **kwargs)).eval()
        head = ["score"] if model_type in ("llama", "mistral", "qwen2") else head
        batch = text_batch()
    expected = logits(base, batch)
    model = get_peft_model(base, BottleneckConfig(placement=placement, modules_to_save=head)).eval()
    assert len(bottleneck_layers(model)) == LAYERS * per_block
    torch.testing.assert_close(logits(model, batch), expected, atol=1e-6, rtol=0)
    perturb(model)
    assert not torch.allclose(logits(model, batch), expected), "adapters are not on the forward path"


# --- bad inputs: each message names the parameter and the value ---------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"placement": "sideways"}, "placement='sideways'"),
        ({"non_linearity": "softmax"}, "non_linearity='softmax'"),
        ({"dropout": 1.5}, "dropout=1.5"),
        ({"scaling": 0}, "scaling=0"),
        ({"scaling": "learnt"}, "scaling='learnt'"),
        ({"bottleneck_size": 0}, "bottleneck_size=0"),
        ({"bottleneck_size": 8, "reduction_factor": 4}, "bottleneck_size=8"),
        ({"reduction_factor": -2}, "reduction_factor=-2"),
    ],
)
def test_bad_config_values(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError) as err:
        BottleneckConfig(**kwargs)
    assert needle in str(err.value)


def test_unknown_placement_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError) as err:
        BottleneckConfig(placement="houlsbi")
    assert all(p in str(err.value) for p in PLACEMENTS) and "Did you mean 'houlsby'" in str(err.value)


@pytest.mark.parametrize(
    ("reduction_factor", "needles"),
    [(5, ["reduction_factor=5", "hidden size 32", "4, 8"]), (64, ["reduction_factor=64", "< 1"])],
)
def test_reduction_factor_must_fit_the_hidden_size(reduction_factor: int, needles: list[str]) -> None:
    model = make_bert()
    with pytest.raises(ValueError) as err:
        get_peft_model(model, BottleneckConfig(reduction_factor=reduction_factor))
    assert all(n in str(err.value) for n in needles), str(err.value)
    assert not bottleneck_layers(model), "a failed build must not leave the model half-wrapped"


def test_absent_target_modules_name_the_existing_ones() -> None:
    with pytest.raises(ValueError) as err:
        get_peft_model(make_bert(), BottleneckConfig(target_modules=["attn.c_proj"]))
    message = str(err.value)
    assert "target_modules=['attn.c_proj']" in message
    assert "bert.encoder.layer.<i>.output.dense" in message


def test_houlsby_needs_linear_targets() -> None:
    with pytest.raises(ValueError) as err:
        get_peft_model(make_bert(), BottleneckConfig(target_modules=["LayerNorm"]))
    assert "target_modules=['LayerNorm']" in str(err.value) and "nn.Linear" in str(err.value)


def test_unknown_architecture_asks_for_target_modules() -> None:
    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(8, 8)

    with pytest.raises(ValueError) as err:
        get_peft_model(Tiny(), BottleneckConfig())
    assert "target_modules=None" in str(err.value) and "bert" in str(err.value)


def test_parallel_cannot_join_sequential_adapters() -> None:
    model = get_peft_model(make_bert(), BottleneckConfig(placement="houlsby"))
    with pytest.raises(ValueError) as err:
        model.add_adapter("side", BottleneckConfig(placement="parallel"))
    assert "placement='parallel'" in str(err.value)


def test_loading_onto_another_hidden_size_fails_clearly(tmp_path: Path) -> None:
    get_peft_model(make_bert(), BottleneckConfig(task_type="SEQ_CLS")).save_pretrained(tmp_path)
    with pytest.raises(ValueError) as err:
        PeftModel.from_pretrained(make_bert(hidden_size=64), tmp_path)
    message = str(err.value)
    assert "base_hidden_size=32" in message and "hidden size 64" in message


def test_loading_onto_another_architecture_fails_clearly(tmp_path: Path) -> None:
    get_peft_model(make_bert(), BottleneckConfig(task_type="SEQ_CLS")).save_pretrained(tmp_path)
    with pytest.raises(ValueError) as err:
        PeftModel.from_pretrained(make_vit(), tmp_path)
    message = str(err.value)
    assert "base_model_type='bert'" in message and "'vit'" in message

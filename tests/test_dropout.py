"""``model.fast_dropout``: CPU dropout drawing four mask elements per 64-bit draw (dropout.py)."""

from __future__ import annotations

import pytest
import torch

from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.dropout import (EAGER_WITH_CPU_DROPOUT, EXACT_EAGER, CpuDropout, cpu_dropout,
                                     training_attention, use_cpu_dropout)
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.tasks import TextClassificationRecipe

from conftest import STRATEGY_CASES, tiny_config, toy_dataset

CPU = torch.device("cpu")


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keeps_each_element_with_probability_one_minus_p_and_keeps_the_expectation(p: float) -> None:
    torch.manual_seed(0)
    x = torch.ones(400_003)  # not a multiple of the 4 lanes a draw
    y = cpu_dropout(x, p)
    kept = y != 0
    # 5 standard deviations of a binomial proportion over 400k elements
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * (p * (1 - p) / x.numel()) ** 0.5
    for lane in range(4):  # every 16-bit lane of a draw is uniform, the sign lane included
        share = kept[: 400_000].view(-1, 4)[:, lane].float().mean().item()
        assert abs(share - (1 - p)) < 5 * (p * (1 - p) / 100_000) ** 0.5, (lane, share)
    scale = y[kept].unique()
    assert scale.numel() == 1 and abs(scale.item() * (1 - p) - 1) < 1e-4  # p rounded to 1/65536 at most
    assert abs(y.double().mean().item() - 1.0) < 0.02


def test_gradient_flows_through_the_kept_elements_only() -> None:
    torch.manual_seed(1)
    x = torch.randn(64, 33, requires_grad=True)
    y = cpu_dropout(x, 0.3)
    y.backward(torch.full_like(y, 2.0))
    kept = y.detach() != 0
    torch.testing.assert_close(x.grad, kept.float() * 2.0 / (1 - 0.3), rtol=1e-4, atol=0)
    torch.testing.assert_close(y.detach(), x.detach() * kept / (1 - 0.3), rtol=1e-4, atol=1e-6)


def test_masks_follow_the_seeded_generator_and_bf16_keeps_its_dtype() -> None:
    x = torch.ones(1000, dtype=torch.bfloat16)
    torch.manual_seed(7)
    first = cpu_dropout(x, 0.1)
    torch.manual_seed(7)
    again = cpu_dropout(x, 0.1)
    other = cpu_dropout(x, 0.1)
    assert first.dtype == torch.bfloat16 and torch.equal(first, again) and not torch.equal(first, other)


def test_nothing_drawn_in_eval_at_zero_or_for_everything() -> None:
    x = torch.randn(10, 10)
    assert torch.equal(cpu_dropout(x, 0.5, training=False), x)
    assert torch.equal(cpu_dropout(x, 0.0), x)
    assert torch.count_nonzero(cpu_dropout(x, 1.0)) == 0


def test_replaces_every_dropout_module_lora_included_and_leaves_the_weights(tiny_model_dir: str) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=2, lora_dropout=0.1,
                                             target_modules=["query", "value"]))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    dropouts = [m for m in model.modules() if type(m) is torch.nn.Dropout]
    assert use_cpu_dropout(model, torch.device("cuda")) == 0 and use_cpu_dropout(model, CPU, enabled=False) == 0
    assert use_cpu_dropout(model, CPU) == len(dropouts) > 0
    assert not any(type(m) is torch.nn.Dropout for m in model.modules())
    lora_dropouts = [m for name, m in model.named_modules() if ".lora_dropout." in name]
    assert lora_dropouts and all(isinstance(m, CpuDropout) and m.p == 0.1 for m in lora_dropouts)
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def _tiny(model_type: str) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForSequenceClassification

    torch.manual_seed(0)
    kwargs = dict(vocab_size=100, num_labels=3, max_position_embeddings=64)
    if model_type == "distilbert":
        kwargs.update(dim=32, n_layers=2, n_heads=4, hidden_dim=37, attention_dropout=0.5)
    else:
        kwargs.update(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                      attention_probs_dropout_prob=0.5)
    config = AutoConfig.for_model(model_type, **kwargs)
    return AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")


@pytest.mark.parametrize("model_type", EXACT_EAGER)
def test_attention_kernel_is_exactly_the_models_own_eager(model_type: str) -> None:
    model = _tiny(model_type)
    batch = {"input_ids": torch.randint(3, 100, (2, 9)), "attention_mask": torch.ones(2, 9, dtype=torch.long)}
    batch["attention_mask"][1, 5:] = 0
    model.eval()
    with torch.no_grad():
        own = model(**batch).logits
        assert training_attention(model) == EAGER_WITH_CPU_DROPOUT
        model.set_attn_implementation(EAGER_WITH_CPU_DROPOUT)
        ours = model(**batch).logits
    assert torch.equal(own, ours)
    # training: the probabilities' dropout runs (p=0.5 here), masks follow the seed, gradients reach the embeddings
    model.train()
    outputs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        outputs.append(model(**batch).logits)
    assert torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[0], outputs[2])
    outputs[0].sum().backward()
    assert next(model.base_model.embeddings.parameters()).grad.abs().sum() > 0


def test_other_model_families_keep_their_own_eager() -> None:
    from transformers import ViTConfig, ViTForImageClassification

    vit = ViTForImageClassification(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                              intermediate_size=37, image_size=32, patch_size=16))
    assert training_attention(vit) == "eager"
    assert training_attention(_tiny("bert"), enabled=False) == "eager"


@pytest.mark.parametrize("fast", [True, False])
def test_recipe_trains_with_the_cpu_dropout_unless_turned_off(tmp_path, tiny_model_dir: str, fast: bool) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir, STRATEGY_CASES["lora"])
    cfg.model.fast_dropout = fast
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(24), eval_dataset=toy_dataset(12, seed=1))
    recipe.setup()
    swapped = [m for m in recipe.model.modules() if isinstance(m, CpuDropout)]
    assert bool(swapped) is fast
    assert any(type(m) is torch.nn.Dropout for m in recipe.model.modules()) is not fast
    assert recipe.trainer.train().global_step == 3


def test_setting_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"model": {"fast_dropout": "yes"}})
    assert err.value.param == "model.fast_dropout"

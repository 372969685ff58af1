"""``model.attn_implementation: auto``: eager attention for CPU training steps, sdpa for evaluation (attention.py)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from hf_transfer_kit.attention import switch_attention_by_mode
from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.dropout import EAGER_WITH_CPU_DROPOUT
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.tasks import TextClassificationRecipe
from hf_transfer_kit.tasks.base import pretrained_kwargs

from conftest import STRATEGY_CASES, tiny_config, toy_dataset

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """The switch is made for bf16 training where bf16 is native; these tests run the mechanism on any CPU."""
    monkeypatch.setattr("hf_transfer_kit.attention.bf16_native", lambda: True)


def tiny_classifier(path: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(path, num_labels=3, **kwargs)


def implementation(model: torch.nn.Module) -> str:
    return model.config._attn_implementation


def test_cpu_training_runs_eager_and_evaluation_sdpa(tiny_model_dir: str) -> None:
    model = tiny_classifier(tiny_model_dir)
    assert implementation(model) == "sdpa"
    assert switch_attention_by_mode(model, CPU)
    batch = {"input_ids": torch.randint(5, 1000, (2, 12)), "attention_mask": torch.ones(2, 12, dtype=torch.long)}
    model.train()
    model(**batch, labels=torch.tensor([0, 1])).loss.backward()
    assert implementation(model) == "eager"
    model.eval()
    with torch.no_grad():
        sdpa_logits = model(**batch).logits
    assert implementation(model) == "sdpa"
    # the same maths either way: eval-mode eager gives the same logits
    model.set_attn_implementation("eager")
    with torch.no_grad():
        eager_logits = model.base_model.forward(**batch)  # the backbone's forward, not its hooked __call__
        eager_logits = model.classifier(model.dropout(eager_logits.pooler_output))
    torch.testing.assert_close(eager_logits, sdpa_logits, rtol=1e-4, atol=1e-5)


def test_switch_reaches_through_peft_wrappers(tiny_model_dir: str) -> None:
    from peft import LoraConfig, get_peft_model

    model = tiny_classifier(tiny_model_dir)
    assert switch_attention_by_mode(model, CPU)
    peft_model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["query", "value"]))
    peft_model.train()
    peft_model(input_ids=torch.randint(5, 1000, (2, 8)))
    assert implementation(model) == "eager"
    peft_model.eval()
    peft_model(input_ids=torch.randint(5, 1000, (2, 8)))
    assert implementation(model) == "sdpa"


def test_switched_only_where_measured_to_win(tiny_model_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """fp32 training keeps sdpa (eager was no faster beyond noise); bf16 emulated on a CPU without native bf16 too."""
    assert not switch_attention_by_mode(tiny_classifier(tiny_model_dir), CPU, bf16=False)
    monkeypatch.setattr("hf_transfer_kit.attention.bf16_native", lambda: False)
    assert not switch_attention_by_mode(tiny_classifier(tiny_model_dir), CPU, bf16=True)


@pytest.mark.parametrize("setting, device", [("sdpa", "cpu"), ("eager", "cpu"), ("auto", "cuda")])
def test_no_switch_for_explicit_settings_or_gpus(tiny_model_dir: str, setting: str, device: str) -> None:
    model = tiny_classifier(tiny_model_dir, attn_implementation="sdpa")
    assert not switch_attention_by_mode(model, torch.device(device), setting)
    model.train()
    model(input_ids=torch.randint(5, 1000, (2, 8)))
    assert implementation(model) == "sdpa"


def test_explicit_setting_is_passed_to_from_pretrained(tmp_path, tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir)
    cfg.model.attn_implementation = "eager"
    assert pretrained_kwargs(cfg.model)["attn_implementation"] == "eager"
    assert "attn_implementation" not in pretrained_kwargs(config_from_dict({}).model)
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(24), eval_dataset=toy_dataset(12, seed=1))
    recipe.setup()
    recipe.model.eval()
    recipe.model(input_ids=torch.randint(5, 1000, (1, 6)))
    assert implementation(recipe.model) == "eager"  # explicit: never switched to sdpa


@pytest.mark.parametrize("strategy", ["full", "lora", "adapter"])
def test_recipe_trains_eager_and_evaluates_sdpa(tmp_path, tiny_model_dir: str, strategy: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir, STRATEGY_CASES[strategy], eval_strategy="steps", eval_steps=2,
                      bf16=True)  # the switch is for bf16 training (a tiny model is quick even where it is emulated)
    seen: list[tuple[bool, str]] = []
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(24), eval_dataset=toy_dataset(12, seed=1))
    recipe.setup()
    base = recipe.model.get_base_model() if hasattr(recipe.model, "get_base_model") else recipe.model
    base.base_model.register_forward_hook(lambda m, a, o: seen.append((m.training, implementation(base))))
    result = recipe.trainer.train()
    assert result.global_step == 3
    # BERT trains with the eager kernel whose dropout draws 4 elements a draw (dropout.py, model.fast_dropout)
    assert {(True, EAGER_WITH_CPU_DROPOUT), (False, "sdpa")} <= set(seen), seen
    assert all(impl == (EAGER_WITH_CPU_DROPOUT if training else "sdpa") for training, impl in seen)


def test_unknown_implementation_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"model": {"attn_implementation": "flash"}})
    assert err.value.param == "model.attn_implementation" and "sdpa" in str(err.value)
    assert config_from_dict({"model": {"attn_implementation": "kernels-community/flash-attn"}})

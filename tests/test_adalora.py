"""AdaLoRA through the kit: ``total_step: auto`` and a rank budget that really moves while the Trainer trains."""

from __future__ import annotations

import json

import pytest
from conftest import tiny_config, toy_dataset

from hf_transfer_kit import TextClassificationRecipe
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.strategies import adalora, build_strategy_config, get_strategy

ADALORA = {"name": "peft", "method": "adalora", "init_r": 6, "target_r": 2, "tinit": 2, "tfinal": 3,
           "lora_alpha": 8}


def test_total_step_defaults_to_auto_and_the_strategy_brings_its_callback() -> None:
    config = build_strategy_config(ADALORA)
    assert config.options["total_step"] == "auto"
    assert config.to_dict()["total_step"] == "auto"  # saved as asked, not as resolved
    callbacks = get_strategy(config, "SEQ_CLS").callbacks()
    assert [type(c) for c in callbacks] == [adalora.RankBudget] and callbacks[0].auto_total
    given = get_strategy(build_strategy_config({**ADALORA, "total_step": 40}), "SEQ_CLS").callbacks()
    assert not given[0].auto_total
    assert get_strategy(build_strategy_config({"name": "lora"}), "SEQ_CLS").callbacks() == []


def test_ranks_are_reallocated_while_training(tmp_path, tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir, strategy=ADALORA, max_steps=14, learning_rate=1e-2)
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(60))
    recipe.setup()
    before = adalora.ranks(recipe.model)
    assert before and set(before.values()) == {6}  # every matrix starts at init_r
    result = recipe.run()

    after = adalora.ranks(recipe.model)
    assert after.keys() == before.keys()
    # the budget went from init_r to target_r on average: ranks fell, and unevenly where importance differed
    assert sum(after.values()) == 2 * len(after), after
    assert min(after.values()) < 6
    peft_config = recipe.model.peft_config["default"]
    assert peft_config.total_step == 14  # `auto`: the Trainer's planned steps
    saved = json.loads((result.output_dir / "adapter_config.json").read_text())
    assert saved["rank_pattern"] and saved["total_step"] == 14
    assert {name.removesuffix(".lora_E"): sum(mask) for name, mask in saved["rank_pattern"].items()} == after
    losses = [e["loss"] for e in recipe.trainer.state.log_history if "loss" in e]
    assert losses[-1] < losses[0], losses  # it learned while the ranks moved


def test_a_schedule_with_no_budgeting_phase_is_refused_before_the_first_step(tmp_path, tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir, strategy={**ADALORA, "tinit": 8, "tfinal": 4}, max_steps=10)
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(30))
    with pytest.raises(ConfigError, match="strategy.tinit"):
        recipe.run()
    assert recipe.trainer.state.global_step == 0


def test_sharded_engines_are_refused_before_the_model_loads(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    strategy = get_strategy(build_strategy_config(ADALORA), "SEQ_CLS")
    strategy.check_training(args)  # one process, DDP: fine
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # what `accelerate launch --config_file fsdp.yaml` sets
    with pytest.raises(ConfigError, match="fsdp keeps sharded.*multi_gpu.yaml"):
        strategy.check_training(args)

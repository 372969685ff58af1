"""Defaults that hold on the user's data: early stopping with ``num_train_epochs: auto``, frozen blocks held in
eval mode, batch-norm statistics recomputed after training, and the linear probe read as trained, on cached
features."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import MINILM, tiny_config, toy_dataset

from hf_transfer_kit import TextClassificationRecipe, load_for_inference
from hf_transfer_kit import stopping
from hf_transfer_kit.batchnorm import Tracker
from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.strategies.frozen import blocks, frozen, hold_frozen_blocks_in_eval
from hf_transfer_kit.tasks.text_classification.pooled import PooledForSequenceClassification, checkpoint_pooling

PROBE = ["football football", "computer computer", "pasta pasta"]


# ---- the rule of num_train_epochs: auto ------------------------------------------------------------------------
def test_auto_budget_cadence_and_best_checkpoint() -> None:
    small = stopping.resolve({"num_train_epochs": "auto", "eval_strategy": "epoch"}, 800, 16, ("accuracy", True))
    assert small["num_train_epochs"] == 15  # ceil(12000 / 800)
    assert small["eval_steps"] == small["save_steps"] == 50  # once per epoch
    assert small["load_best_model_at_end"] and small["metric_for_best_model"] == "accuracy"
    assert small["greater_is_better"] and small["restore_callback_states_from_checkpoint"]

    large = stopping.resolve({"num_train_epochs": "auto"}, 200_000, 16, ("loss", False))
    assert large["num_train_epochs"] == stopping.MIN_EPOCHS
    assert large["eval_steps"] <= stopping.EVAL_EVERY_MAX_STEPS and large["greater_is_better"] is False

    tiny = stopping.resolve({"num_train_epochs": "auto"}, 20, 16, ("accuracy", True))
    assert tiny["num_train_epochs"] == stopping.MAX_EPOCHS
    assert stopping.resolve({"num_train_epochs": "auto"}, None, 16, ("accuracy", True))["num_train_epochs"] == 1


def test_patience_on_a_fixed_budget_saves_what_it_evaluates() -> None:
    kwargs = stopping.resolve({"num_train_epochs": 5, "eval_strategy": "steps", "eval_steps": 7, "save_strategy": "epoch",
                               "early_stopping_patience": 2}, 100, 8, ("f1", True))
    assert kwargs["save_strategy"] == "steps" and kwargs["save_steps"] == 7
    assert "early_stopping_patience" not in kwargs and kwargs["num_train_epochs"] == 5
    callback = stopping.callback({"num_train_epochs": 5, "early_stopping_patience": 2})
    assert callback.early_stopping_patience == 2
    assert stopping.callback({"num_train_epochs": 5}) is None


@pytest.mark.parametrize("training, param", [
    ({"num_train_epochs": "sometimes"}, "training.num_train_epochs"),
    ({"early_stopping_patience": 0}, "training.early_stopping_patience"),
    ({"early_stopping_patience": "3"}, "training.early_stopping_patience"),
    ({"early_stopping_threshold": -0.1}, "training.early_stopping_threshold"),
    ({"early_stoping_patience": 3}, "training.early_stoping_patience"),
])
def test_bad_stopping_settings_name_the_field(training: dict, param: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"training": training})
    assert err.value.param == param


def test_auto_without_evaluation_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        stopping.resolve({"num_train_epochs": "auto", "eval_strategy": "no"}, 100, 8, ("accuracy", True))
    assert err.value.param == "training.eval_strategy"


@pytest.mark.parametrize("section, param", [({"strategy": {"name": "lora", "frozen_blocks": "frozen"}},
                                             "strategy.frozen_blocks"),
                                            ({"model": {"pooling": "max"}}, "model.pooling")])
def test_bad_frozen_block_and_pooling_settings(section: dict, param: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(section)
    assert err.value.param == param


def test_auto_epochs_stop_early_restore_the_best_and_say_why(tmp_path: Path, tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir, num_train_epochs="auto", max_steps=-1, eval_strategy="epoch",
                      learning_rate=3e-3, early_stopping_patience=4)
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(96), eval_dataset=toy_dataset(24, seed=2),
                                      test_dataset=toy_dataset(24, seed=1))
    result = recipe.run()
    stop = result.metrics["train"]["stopping"]
    assert stop["auto"] and stop["budget_epochs"] == stopping.MAX_EPOCHS
    assert stop["epochs_trained"] <= stop["budget_epochs"]
    evals = [e["eval_accuracy"] for e in result.log_history if "eval_accuracy" in e]
    assert stop["best_value"] == max(evals)  # the best evaluation is the checkpoint kept
    if stop["steps"] < stop["budget_steps"]:
        assert stop["stopped"].startswith("early stopping")
        assert len(evals) - evals.index(max(evals)) - 1 >= 4  # the patience
    assert result.metrics["test"]["accuracy"] > 0.6  # learned: three balanced classes
    card = (result.output_dir / "README.md").read_text()
    assert "why training stopped" in card and "checkpoint kept" in card


def test_each_stalled_evaluation_halves_the_rest_of_the_schedule(tmp_path: Path, tiny_model_dir: str) -> None:
    """Two runs, the same schedule: without lr_plateau_factor (off) and with 0.5. Step by step, the halving run's
    rate is the plain schedule's times 0.5 per stalled evaluation so far."""
    rates = {}
    runs = {}
    for factor in (None, 0.5):
        cfg = tiny_config(tmp_path / str(factor), tiny_model_dir, num_train_epochs="auto", max_steps=-1,
                          eval_strategy="epoch", learning_rate=3e-3, early_stopping_patience=4,
                          lr_plateau_factor=factor)
        runs[factor] = TextClassificationRecipe(cfg, train_dataset=toy_dataset(48), eval_dataset=toy_dataset(12, 2)).run()
        rates[factor] = {e["step"]: e["learning_rate"] for e in runs[factor].log_history if "learning_rate" in e}
    history = runs[0.5].log_history
    best, stalled, checked = None, 0, 0
    for entry in history:
        if "eval_accuracy" in entry:
            if best is not None and entry["eval_accuracy"] <= best:
                stalled += 1
            best = entry["eval_accuracy"] if best is None else max(best, entry["eval_accuracy"])
        elif "learning_rate" in entry and entry["step"] in rates[None]:
            assert entry["learning_rate"] == pytest.approx(rates[None][entry["step"]] * 0.5 ** stalled, rel=1e-6)
            checked += 1
    stop = runs[0.5].metrics["train"]["stopping"]
    assert checked > 10 and stop["lr_reductions"] >= 1 and stop["lr_plateau_factor"] == 0.5
    assert stop["lr_reductions"] == stalled - (1 if stop["stopped"].startswith("early") else 0)  # not on the last
    assert "learning rate on plateaus" in (runs[0.5].output_dir / "README.md").read_text()
    assert "lr_reductions" not in runs[None].metrics["train"]["stopping"]


# ---- frozen blocks ------------------------------------------------------------------------------------------
def _bert(tiny_model_dir: str):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)


def test_blocks_are_the_layers_embeddings_and_pooler(tiny_model_dir: str) -> None:
    model = _bert(tiny_model_dir)
    names = {id(m): n for n, m in model.named_modules()}
    assert sorted(names[id(b)] for b in blocks(model)) == ["bert.embeddings", "bert.encoder.layer.0",
                                                          "bert.encoder.layer.1", "bert.pooler"]


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_frozen_blocks_run_without_dropout_trained_ones_keep_it(tiny_model_dir: str, mode: str) -> None:
    model = _bert(tiny_model_dir)
    model.config.hidden_dropout_prob = 0.5
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.5
    for name, p in model.named_parameters():  # freeze everything below the top layer
        p.requires_grad_(name.startswith(("bert.encoder.layer.1", "bert.pooler", "classifier")))
    found = hold_frozen_blocks_in_eval(model) if mode == "eval" else blocks(model)
    assert len(frozen(found)) == 2  # embeddings and layer 0
    model.train()
    batch = {"input_ids": torch.tensor([[101, 2000, 2001, 102]])}
    states = [model(**batch, output_hidden_states=True).hidden_states for _ in range(2)]
    bottom_same = torch.equal(states[0][1], states[1][1])  # the output of the frozen layer 0
    assert bottom_same == (mode == "eval")
    assert not torch.equal(states[0][2], states[1][2])  # the trained top layer keeps its dropout
    assert model.bert.encoder.layer[1].training


# ---- batch norms --------------------------------------------------------------------------------------------
def test_batch_norm_statistics_are_recomputed_on_the_training_data(tmp_path: Path) -> None:
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from hf_transfer_kit.batchnorm import recompute
    from hf_transfer_kit.vision.efficientnet_lite import EfficientNetLiteConfig, EfficientNetLiteForImageClassification

    torch.manual_seed(0)
    model = EfficientNetLiteForImageClassification(EfficientNetLiteConfig(num_labels=2))
    pixels = torch.randn(16, 3, 32, 32) * 3 + 2  # far from the initial statistics (mean 0, var 1)
    data = Dataset.from_dict({"pixel_values": pixels.numpy(), "labels": [0, 1] * 8}).with_format("torch")
    trainer = Trainer(model=model, args=TrainingArguments(str(tmp_path), per_device_train_batch_size=8,
                                                          report_to="none", use_cpu=True), train_dataset=data)
    tracker = Tracker(model)
    first = model.efficientnet_lite.embeddings.batchnorm if hasattr(model.efficientnet_lite.embeddings, "batchnorm") \
        else next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    inputs: list[torch.Tensor] = []
    first.register_forward_pre_hook(lambda m, args: inputs.append(args[0].detach()))
    model.train()
    model(pixel_values=pixels[:8])  # one training-mode forward: these norms update
    assert all(tracker.stale(m) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    report = recompute(model, tracker, trainer)
    assert report["recomputed"] == sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    seen = torch.cat(inputs[1:])  # what the recomputation pass fed the first norm: the whole training split
    assert seen.shape[0] == 16
    torch.testing.assert_close(first.running_mean, seen.mean((0, 2, 3)), rtol=1e-4, atol=1e-4)
    assert first.momentum is not None  # restored after the cumulative pass


def test_batch_norms_that_trained_long_enough_are_left_as_trained() -> None:
    norm = torch.nn.BatchNorm1d(4, momentum=0.1)
    tracker = Tracker(norm)
    norm.train()
    for _ in range(20):
        norm(torch.randn(8, 4))
    assert tracker.stale(norm)  # 0.9 ** 20 = 12 % of the initial statistics left
    for _ in range(20):
        norm(torch.randn(8, 4))
    assert not tracker.stale(norm)  # 0.9 ** 40 = 1.5 %


# ---- the linear probe ---------------------------------------------------------------------------------------
def test_sentence_transformers_pooling_is_read_from_the_checkpoint(tiny_model_dir: str, tmp_path: Path) -> None:
    assert checkpoint_pooling(MINILM) == "mean"
    assert checkpoint_pooling(tiny_model_dir) is None
    cls_dir = tmp_path / "cls"
    shutil.copytree(tiny_model_dir, cls_dir)
    (cls_dir / "modules.json").write_text(json.dumps([{"idx": 1, "name": "1", "path": "1_Pooling",
                                                        "type": "sentence_transformers.models.Pooling"}]))
    (cls_dir / "1_Pooling").mkdir()
    (cls_dir / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    assert checkpoint_pooling(str(cls_dir)) == "cls"


def _mean_pooled_checkpoint(tiny_model_dir: str, tmp_path: Path) -> str:
    path = tmp_path / "st"
    shutil.copytree(tiny_model_dir, path)
    shutil.copytree(Path(MINILM) / "1_Pooling", path / "1_Pooling")
    shutil.copy(Path(MINILM) / "modules.json", path / "modules.json")
    return str(path)


def test_probe_reads_mean_pooled_cached_features_and_reloads(tiny_model_dir: str, tmp_path: Path) -> None:
    model_dir = _mean_pooled_checkpoint(tiny_model_dir, tmp_path)
    cfg = tiny_config(tmp_path, model_dir, {"name": "linear_probe"}, max_steps=-1, num_train_epochs=30,
                      learning_rate=0.1)
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(48), test_dataset=toy_dataset(24, seed=1))
    result = recipe.run()
    assert isinstance(recipe.trained_model(), PooledForSequenceClassification)
    probe = result.metrics["train"]["linear_probe"]
    assert probe["cached_features"] and probe["examples"]["train"] == len(recipe.datasets["train"])
    losses = [e["loss"] for e in result.log_history if "loss" in e]
    assert losses[-1] < losses[0] - 0.2  # the head learned on the cached features

    model, tokenizer, config = load_for_inference(result.output_dir)
    assert config.model.pooling == "mean" and isinstance(model, PooledForSequenceClassification)
    batch = tokenizer(PROBE, padding=True, return_tensors="pt")
    with torch.inference_mode():
        torch.testing.assert_close(model(**batch).logits, recipe.trained_model().eval()(**batch).logits)


def test_probe_keeps_the_model_head_without_a_pooling_config(tiny_model_dir: str, tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir, {"name": "linear_probe", "cache_features": False})
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(24))
    result = recipe.run()
    assert type(recipe.trained_model()).__name__ == "BertForSequenceClassification"
    assert "linear_probe" not in result.metrics["train"]
    assert result.metrics["train"]["frozen_blocks_in_eval"] == 4


@pytest.mark.slow
def test_real_minilm_probe_beats_the_cls_pooler(tmp_path: Path) -> None:
    """On the real all-MiniLM-L6-v2, the mean-pooled cached probe scores above the [CLS]-pooler probe."""
    quick = ["data.max_train_samples=240", "data.max_eval_samples=120", "data.max_length=64",
             "training.disable_tqdm=true", "training.num_train_epochs=auto"]
    config = Path(__file__).parent.parent / "recipes" / "configs" / "nlp" / "minilm_linear_probe.yaml"
    scores = {}
    for pooling in ("auto", "model"):
        recipe = TextClassificationRecipe.from_yaml(config, quick + [f"output_dir={tmp_path / pooling}",
                                                                     f"model.pooling={pooling}"])
        scores[pooling] = recipe.run().metrics["test"]["accuracy"]
    assert scores["auto"] >= scores["model"] and scores["auto"] > 0.85, scores


# ---- the learning-rate range test ---------------------------------------------------------------------------
def test_rate_rule_minimum_over_ten_and_fallbacks() -> None:
    from hf_transfer_kit import lr_find

    lrs = [10 ** (-7 + i * 0.25) for i in range(24)]
    losses = [2.0 - 0.05 * i for i in range(16)] + [1.3 + 0.5 * i for i in range(8)]  # minimum at index 15
    rate, why = lr_find.choose(lrs, losses)
    assert rate == pytest.approx(lrs[15] / 10) and "lowest smoothed loss" in why
    assert lr_find.choose(lrs, [2.0] * 24)[0] is None  # no descent
    assert lr_find.choose(lrs[:5], losses[:5])[0] is None  # diverged too soon


def test_auto_learning_rate_is_found_restored_plotted_and_reused(tmp_path: Path, tiny_model_dir: str) -> None:
    from hf_transfer_kit import lr_find

    cfg = tiny_config(tmp_path, tiny_model_dir, learning_rate="auto", max_steps=-1, num_train_epochs=2)
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(96), test_dataset=toy_dataset(12, seed=1))
    recipe.setup()
    before = {k: v.clone() for k, v in recipe.model.state_dict().items()}
    curve = lr_find.range_test(recipe.trainer, 30)
    after = recipe.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the test leaves no trace in the weights
    assert len(curve["lrs"]) >= lr_find.MIN_STEPS and curve["lrs"] == sorted(curve["lrs"])

    result = recipe.run()
    found = result.metrics["train"]["learning_rate_finder"]
    assert found["learning_rate"] == recipe.args.learning_rate > 0
    assert found["steps"] == lr_find.steps_for(recipe.trainer) or found["steps"] < lr_find.steps_for(recipe.trainer)
    assert (result.output_dir / "images" / "lr_find.png").is_file()
    assert "learning rate (learning_rate: auto)" in (result.output_dir / "README.md").read_text()

    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / lr_find.RESULT_FILE).write_text(json.dumps({"learning_rate": 1.234e-4, "why": "x", "fallback": False}))
    assert lr_find.find(recipe.trainer, "full", staging)["reused"] and recipe.trainer.args.learning_rate == 1.234e-4

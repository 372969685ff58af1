"""Layer-wise learning-rate decay and gradual unfreezing (strategies/layerwise.py), trained for real.

Weights are snapshotted after every optimizer step: a layer must stay bit-identical while it is frozen and
change once it is unfrozen; the optimizer keeps one group per layer whose learning rate is decay**depth of the
head's at every step; a run interrupted mid-schedule and resumed ends on the same weights as an uninterrupted one.
That the schedule still learns is checked on the real MiniLM (slow): the tiny random BERT learns nothing in a few
steps with or without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import Trainer, TrainerCallback

from conftest import MINILM, tiny_config, toy_dataset
from hf_transfer_kit import TextClassificationRecipe
from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.errors import ConfigError, TrainingInterrupted
from hf_transfer_kit.strategies.layerwise import LayerwiseTrainer


class Record(TrainerCallback):
    """After each optimizer step: a copy of every weight, which ones require grad, each group's lr."""

    def __init__(self) -> None:
        self.weights: list[dict[str, torch.Tensor]] = []
        self.trainable: list[set[str]] = []
        self.lrs: list[list[float]] = []
        self.epochs: list[float] = []
        self.losses: list[float] = []

    @staticmethod
    def _copy(model: Any) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in model.named_parameters()}

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.weights.append(self._copy(model))

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                    **kwargs: Any) -> None:
        self.weights.append(self._copy(model))
        self.trainable.append({n for n, p in model.named_parameters() if p.requires_grad})
        self.lrs.append([g["lr"] for g in optimizer.param_groups])
        self.epochs.append(state.epoch)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.losses.append(logs["loss"])


def get_task(tmp_path: Path, model_dir: str, strategy: dict, record: TrainerCallback, n: int = 60,
               **training: Any) -> TextClassificationRecipe:
    config = tiny_config(tmp_path, model_dir, strategy, **training)
    config.baselines = False
    return TextClassificationRecipe(config, train_dataset=toy_dataset(n), callbacks=[record])


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {n for n in before if not torch.equal(before[n], after[n])}


def test_frozen_layers_stay_put_until_unfrozen_then_learn(tmp_path: Path, tiny_model_dir: str) -> None:
    record = Record()
    recipe = get_task(tmp_path, tiny_model_dir, {"name": "full", "layer_lr_decay": 0.5, "unfreeze": "step",
                                                   "unfreeze_every": 2},
                        record, max_steps=8, learning_rate=5e-3, weight_decay=0.01)
    recipe.run()
    schedule = recipe.strategy.layer_schedule
    assert isinstance(recipe.trainer, LayerwiseTrainer)
    assert schedule.stages == [0, 1, 2, 3]  # head + pooler, layer.1, layer.0, embeddings
    assert set(schedule.depths) == {n for n, _ in recipe.model.named_parameters()}

    for step in range(1, 9):  # step s was taken at global_step s - 1: depth d trains once d * 2 <= s - 1
        expected = {n for n, d in schedule.depths.items() if d * 2 <= step - 1}
        assert changed(record.weights[step - 1], record.weights[step]) == expected, f"step {step}"
        assert record.trainable[step - 1] == expected, f"step {step}"  # one process: frozen = requires_grad off

    # One group per (depth, decay / no decay); every lr is the head's times 0.5**depth at every step (the
    # scheduler scales each group), weight decay only where Trainer would put it.
    groups = recipe.trainer.optimizer.param_groups
    assert [g["depth"] for g in groups] == [0, 0, 1, 1, 2, 2, 3, 3]
    for lrs in record.lrs[:-1]:  # the linear schedule ends at lr 0
        assert lrs == pytest.approx([lrs[0] * 0.5 ** g["depth"] for g in groups], rel=1e-9)
    names = {id(p): n for n, p in recipe.model.named_parameters()}
    for g in groups:
        for p in g["params"]:
            name = names[id(p)]
            assert schedule.depths[name] == g["depth"]
            no_decay = name.endswith(".bias") or "LayerNorm" in name
            assert g["weight_decay"] == (0.0 if no_decay else 0.01), name
    assert sorted(names[id(p)] for g in groups for p in g["params"]) == sorted(names.values())
    assert all(p.requires_grad for p in recipe.model.parameters())  # left as the strategy set it


def test_epoch_schedule_skips_what_partial_froze(tmp_path: Path, tiny_model_dir: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    record = Record()
    strategy = {"name": "partial", "freeze_embeddings": True, "unfreeze": "epoch", "unfreeze_every": 1}
    recipe = get_task(tmp_path, tiny_model_dir, strategy, record, n=30, max_steps=-1, num_train_epochs=4,
                        learning_rate=5e-3)
    recipe.run()
    schedule = recipe.strategy.layer_schedule
    assert schedule.stages == [0, 1, 2]  # the frozen embeddings are no stage: layer.0 unfreezes in epoch 2
    embeddings = {n for n, _ in recipe.model.named_parameters() if n.startswith("bert.embeddings.")}
    assert embeddings and not embeddings & set(schedule.depths)
    steps_per_epoch = len(record.epochs) // 4
    assert steps_per_epoch >= 2
    for i, epoch in enumerate(record.epochs):
        current = int(round(epoch * steps_per_epoch) - 1) // steps_per_epoch  # the epoch this step belonged to
        expected = {n for n, d in schedule.depths.items() if d <= min(current, 2)}
        assert changed(record.weights[i], record.weights[i + 1]) == expected, f"step {i + 1}, epoch {current}"
    assert changed(record.weights[0], record.weights[-1]) == set(schedule.depths)  # everything but embeddings
    out = capsys.readouterr().out
    assert "gradual unfreezing at step 0: training classifier + bert.pooler; frozen: bert.encoder.layer.1, " \
           "bert.encoder.layer.0" in out
    assert "never train" not in out


def test_short_run_warns_about_layers_that_never_unfreeze(tmp_path: Path, tiny_model_dir: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    recipe = get_task(tmp_path, tiny_model_dir, {"name": "full", "unfreeze": "step", "unfreeze_every": 2},
                        Record(), max_steps=3)
    recipe.setup()
    recipe.trainer.train()
    assert "reaches only bert.encoder.layer.1; bert.encoder.layer.0, bert.embeddings never train" in \
        capsys.readouterr().out


class InterruptAt(TrainerCallback):
    """Acts like Ctrl-C after ``step``: the recipe's own interrupt handler saves a checkpoint and stops."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.recipe: Any = None

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.step:
            self.recipe.interrupt.fired = True


def test_resume_mid_schedule_matches_uninterrupted_run(tmp_path: Path, tiny_model_dir: str) -> None:
    strategy = {"name": "partial", "freeze_embeddings": True, "layer_lr_decay": 0.8, "unfreeze": "step",
                "unfreeze_every": 2}
    training = {"max_steps": 6, "learning_rate": 5e-3, "weight_decay": 0.01}
    reference = Record()
    get_task(tmp_path / "reference", tiny_model_dir, strategy, reference, **training).run()

    stop = InterruptAt(3)
    config = tiny_config(tmp_path / "run", tiny_model_dir, strategy, **training)
    config.baselines = False
    stop.recipe = TextClassificationRecipe(config, train_dataset=toy_dataset(60), callbacks=[stop])
    with pytest.raises(TrainingInterrupted):
        stop.recipe.run()

    config.resume = True
    resumed = Record()
    recipe = TextClassificationRecipe(config, train_dataset=toy_dataset(60), callbacks=[resumed])
    recipe.run()
    schedule = recipe.strategy.layer_schedule
    # The first resumed step (global step 3) trains depths 0 and 1 only, as the uninterrupted run did.
    assert resumed.trainable[0] == {n for n, d in schedule.depths.items() if d <= 1} == reference.trainable[3]
    assert changed(resumed.weights[0], resumed.weights[1]) == resumed.trainable[0]
    assert [g["initial_lr"] for g in recipe.trainer.optimizer.param_groups] == pytest.approx(
        [5e-3 * 0.8 ** g["depth"] for g in recipe.trainer.optimizer.param_groups])
    for got, want in zip(resumed.lrs, reference.lrs[3:], strict=True):
        assert got == pytest.approx(want)
    for name, weight in reference.weights[-1].items():
        torch.testing.assert_close(resumed.weights[-1][name], weight, rtol=0, atol=1e-6, msg=name)


def test_without_options_the_plain_trainer_is_used(tmp_path: Path, tiny_model_dir: str) -> None:
    recipe = get_task(tmp_path, tiny_model_dir, {"name": "partial", "freeze_bottom_layers": 1}, Record()).setup()
    assert recipe.strategy.layer_schedule is None and type(recipe.trainer) is Trainer


@pytest.mark.parametrize("strategy, param", [
    ({"name": "full", "layer_lr_decay": 0.0}, "strategy.layer_lr_decay"),
    ({"name": "full", "layer_lr_decay": 1.2}, "strategy.layer_lr_decay"),
    ({"name": "partial", "unfreeze": "layer"}, "strategy.unfreeze"),
    ({"name": "full", "unfreeze": "step", "unfreeze_every": 0}, "strategy.unfreeze_every"),
    ({"name": "full", "unfreeze_every": 3}, "strategy.unfreeze_every"),
    ({"name": "linear_probe", "layer_lr_decay": 0.9}, "strategy.layer_lr_decay"),
])
def test_bad_settings_fail_when_the_config_is_read(strategy: dict, param: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"model": {"name_or_path": MINILM}, "strategy": strategy})
    assert err.value.param == param


@pytest.mark.slow
def test_real_minilm_with_llrd_and_gradual_unfreezing(tmp_path: Path) -> None:
    """MiniLM-L6 on BBC news: 24 steps, unfreezing a layer every 3 steps; the bottom layer must move."""
    record = Record()
    recipe = TextClassificationRecipe.from_yaml(
        Path(__file__).parent.parent / "recipes" / "configs" / "nlp" / "minilm_gradual_unfreezing.yaml",
        [f"output_dir={tmp_path / 'run'}", "data.max_train_samples=192", "data.max_eval_samples=40",
         "data.max_length=64", "training.max_steps=24", "training.per_device_train_batch_size=8",
         "training.eval_strategy=no", "training.logging_steps=5", "training.disable_tqdm=true",
         "strategy.layer_lr_decay=0.8", "strategy.unfreeze_every=3"], callbacks=[record])
    result = recipe.run()
    schedule = recipe.strategy.layer_schedule
    assert schedule.stages == [0, 1, 2, 3, 4, 5, 6]  # head + pooler, 6 layers (embeddings frozen by the config)
    bottom = {n for n, d in schedule.depths.items() if d == 6}
    assert changed(record.weights[17], record.weights[18]) & bottom == set()  # step 18 taken at global step 17
    assert changed(record.weights[18], record.weights[19]) >= bottom  # unfrozen at global step 18
    test = result.metrics["test"]
    assert test["accuracy"] > result.metrics["baselines"]["majority_class_accuracy"] + 0.2, test

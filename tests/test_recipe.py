"""The recipe end to end on a tiny random BERT: every strategy saves and reloads to identical logits;
bad data fails before training and leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from conftest import STRATEGY_CASES, tiny_config, toy_dataset
from hf_transfer_kit import TextClassificationRecipe, load_for_inference, load_pipeline
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.inference import classify

PROBE = ["football and the a of", "a computer in the it", "pasta with the on", "of to in is"]


@pytest.mark.parametrize("name", list(STRATEGY_CASES))
def test_every_strategy_trains_saves_and_reloads_identically(tmp_path: Path, tiny_model_dir: str, name: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir, STRATEGY_CASES[name])
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(48), test_dataset=toy_dataset(12, seed=1))
    result = recipe.run()
    out = result.output_dir
    assert out == Path(cfg.output_dir) and not (tmp_path / ".out.partial").exists()
    for required in ("recipe_config.yaml", "metrics.json", "README.md", "tokenizer.json"):
        assert (out / required).is_file(), required
    weights = list(out.glob("*.safetensors"))
    assert weights and not list(out.glob("*.bin")) and not list(out.glob("*.pt"))
    assert (out / "adapter_config.json").is_file() == recipe.strategy.saves_adapter
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["parameters"]["trainable"] == result.parameters.trainable
    assert len(metrics["test"]["confusion_matrix"]) == 3 and metrics["test"]["num_examples"] == 12

    in_memory = recipe.predict(PROBE)
    model, tokenizer, config = load_for_inference(out)
    assert config.data.label_names == ["food", "sports", "tech"]
    batch = tokenizer(PROBE, padding=True, return_tensors="pt")
    trained = recipe.trained_model().eval()
    with torch.inference_mode():
        torch.testing.assert_close(model(**batch).logits, trained(**batch).logits, rtol=1e-5, atol=1e-5)
    reloaded = classify(model, tokenizer, PROBE)
    assert [r["label"] for r in reloaded] == [r["label"] for r in in_memory]
    assert [r["score"] for r in reloaded] == pytest.approx([r["score"] for r in in_memory], abs=1e-5)


def test_pipeline_over_a_saved_adapter(tmp_path: Path, tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir, STRATEGY_CASES["lora"])
    out = TextClassificationRecipe(cfg, train_dataset=toy_dataset(24)).run().output_dir
    classifier = load_pipeline(out)
    model, tokenizer, _ = load_for_inference(out)
    expected = classify(model, tokenizer, PROBE[:2])
    got = classifier(PROBE[:2])
    assert [g["label"] for g in got] == [e["label"] for e in expected]
    assert [g["score"] for g in got] == pytest.approx([e["score"] for e in expected], abs=1e-5)


def test_sentence_pairs_and_integer_labels(tmp_path: Path, tiny_model_dir: str) -> None:
    data = Dataset.from_dict({"premise": ["a b", "c d", "e f", "g h"] * 4, "hypothesis": ["x", "y", "z", "w"] * 4,
                              "gold": [0, 1, 0, 1] * 4})
    cfg = tiny_config(tmp_path, tiny_model_dir)
    cfg.data.text_column, cfg.data.text_pair_column, cfg.data.label_column = "premise", "hypothesis", "gold"
    recipe = TextClassificationRecipe(cfg, train_dataset=data)
    result = recipe.run()
    assert recipe.label_names == ["0", "1"]
    assert "accuracy" in result.metrics["test"]
    # the pair really reached the tokenizer: two [SEP] tokens per example
    first = recipe.datasets["train"][0]["input_ids"]
    assert first.count(recipe.tokenizer.sep_token_id) == 2


def test_local_files_and_seeded_validation_split(tmp_path: Path, tiny_model_dir: str) -> None:
    csv = tmp_path / "train.csv"
    toy_dataset(40).to_csv(str(csv))
    cfg = tiny_config(tmp_path, tiny_model_dir)
    cfg.data.train_file = str(csv)
    splits = [TextClassificationRecipe(cfg).load_data()[0] for _ in range(2)]
    assert splits[0]["validation"]["text"] == splits[1]["validation"]["text"]  # seeded
    assert len(splits[0]["train"]) + len(splits[0]["validation"]) + len(splits[0]["test"]) == 40


BAD_DATA = [
    ("missing text column", {"text_column": "body"}, toy_dataset(12), "data.text_column"),
    ("missing label column", {"label_column": "topic"}, toy_dataset(12), "data.label_column"),
    ("labels beyond num_labels", {}, Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 5]}), "model.num_labels"),
    ("empty data set", {}, Dataset.from_dict({"text": [], "label": []}), "data (train split)"),
]


@pytest.mark.parametrize("case, data_overrides, dataset, param", BAD_DATA, ids=[b[0] for b in BAD_DATA])
def test_bad_data_fails_before_training_and_writes_nothing(tmp_path: Path, tiny_model_dir: str, case: str,
                                                           data_overrides: dict, dataset: Dataset, param: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir)
    for key, value in data_overrides.items():
        setattr(cfg.data, key, value)
    if case == "labels beyond num_labels":
        cfg.model.num_labels = 3
    recipe = TextClassificationRecipe(cfg, train_dataset=dataset)
    with pytest.raises(ConfigError) as info:
        recipe.run()
    assert info.value.param == param
    assert recipe.trainer is None  # never got as far as building a Trainer
    assert list(tmp_path.iterdir()) == []


def test_missing_model_path_fails_fast(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, str(tmp_path / "no-such-model"))
    with pytest.raises(ConfigError) as info:
        TextClassificationRecipe(cfg, train_dataset=toy_dataset(6)).run()
    assert info.value.param == "model.name_or_path" and "no-such-model" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_dir_is_refused_then_replaced_with_overwrite(tmp_path: Path, tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir)
    first = TextClassificationRecipe(cfg, train_dataset=toy_dataset(12)).run()
    (first.output_dir / "notes.txt").write_text("written into the previous run")
    with pytest.raises(ConfigError, match="overwrite"):
        TextClassificationRecipe(cfg, train_dataset=toy_dataset(12)).run()
    assert (first.output_dir / "notes.txt").exists()
    cfg.overwrite_output_dir = True
    TextClassificationRecipe(cfg, train_dataset=toy_dataset(12)).run()  # a run of the kit: replaced
    assert not (tmp_path / "out" / "notes.txt").exists() and (tmp_path / "out" / "metrics.json").exists()


def test_overwrite_refuses_a_directory_the_kit_did_not_write(tmp_path: Path, tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("the user's")
    cfg.overwrite_output_dir = True
    with pytest.raises(ConfigError, match="not an output of hf_transfer_kit"):
        TextClassificationRecipe(cfg, train_dataset=toy_dataset(12)).run()
    assert (tmp_path / "out" / "keep.txt").read_text() == "the user's"


def test_same_seed_gives_same_metrics_twice(tmp_path: Path, tiny_model_dir: str) -> None:
    runs = []
    for i in range(2):
        cfg = tiny_config(tmp_path / str(i), tiny_model_dir, STRATEGY_CASES["lora"])
        runs.append(TextClassificationRecipe(cfg, train_dataset=toy_dataset(24), test_dataset=toy_dataset(9, 1)).run())
    assert runs[0].metrics["baselines"] == runs[1].metrics["baselines"]
    assert runs[0].metrics["test"]["loss"] == runs[1].metrics["test"]["loss"]


def test_baselines_do_not_change_what_trains(tmp_path: Path, tiny_model_dir: str) -> None:
    """The baseline evaluations run before training; the trained model must be the same with or without them."""
    runs = []
    for baselines in (True, False):
        cfg = tiny_config(tmp_path / str(baselines), tiny_model_dir, STRATEGY_CASES["lora"])
        cfg.baselines = baselines
        runs.append(TextClassificationRecipe(cfg, train_dataset=toy_dataset(24), test_dataset=toy_dataset(9, 1)).run())
    assert runs[0].metrics["baselines"] and not runs[1].metrics["baselines"]
    assert runs[0].metrics["test"]["loss"] == runs[1].metrics["test"]["loss"]


def test_pickled_weights_need_an_explicit_opt_in(tmp_path: Path, tiny_model_dir: str) -> None:
    import shutil

    from safetensors.torch import load_file

    pickled = tmp_path / "pickled-model"
    shutil.copytree(tiny_model_dir, pickled)
    state = load_file(str(pickled / "model.safetensors"))
    (pickled / "model.safetensors").unlink()
    torch.save(state, pickled / "pytorch_model.bin")
    cfg = tiny_config(tmp_path / "a", str(pickled))
    with pytest.raises(ConfigError) as info:
        TextClassificationRecipe(cfg, train_dataset=toy_dataset(12)).run()
    assert info.value.param == "model.allow_pickle" and "pytorch_model.bin" in str(info.value)
    assert not (tmp_path / "a").exists()
    cfg.model.allow_pickle = True
    result = TextClassificationRecipe(cfg, train_dataset=toy_dataset(12)).run()
    assert (result.output_dir / "model.safetensors").is_file()  # what we write is always safetensors


def test_unwritable_output_path_fails_before_loading_anything(tmp_path: Path, tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir)
    cfg.output_dir = "/proc/hf-transfer-kit/run"  # a read-only file system, even for root
    with pytest.raises(ConfigError) as info:
        TextClassificationRecipe(cfg, train_dataset=toy_dataset(12)).run()
    assert info.value.param == "output_dir" and "writable" in str(info.value)


def test_full_disk_fails_before_training(tmp_path: Path, tiny_model_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from hf_transfer_kit import outputs

    real = shutil.disk_usage
    monkeypatch.setattr(outputs.shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    recipe = TextClassificationRecipe(tiny_config(tmp_path, tiny_model_dir), train_dataset=toy_dataset(12))
    with pytest.raises(ConfigError, match="GB free") as info:
        recipe.run()
    assert info.value.param == "output_dir" and recipe.trainer is None
    assert list(tmp_path.iterdir()) == []

"""Seq2seq fine-tuning (task text2text-generation / seq2seq): targets carry the loss and end in EOS, train -> save ->
reload -> generate for full, LoRA and bottleneck adapters, the shipped YAML runs, bad data fails early.

No seq2seq checkpoint ships on the package registries (T5 / BART / Marian weights are only on the Hub), so every
test uses a tiny random T5 (hidden 32, 2 + 2 layers) with the word-level tokenizer built in test_causal_lm."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from datasets import Dataset

from hf_transfer_kit.cli import main
from hf_transfer_kit.config import config_from_dict, load_config
from hf_transfer_kit.tasks.seq2seq.config import Seq2SeqDataConfig as DataConfig
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.generation.data import encode_seq2seq, load_pairs
from hf_transfer_kit.inference import load_for_inference
from hf_transfer_kit.tasks import Seq2SeqRecipe, get_task
from test_causal_lm import topic_pairs, word_tokenizer

CONFIG = Path(__file__).parent.parent / "recipes" / "configs" / "seq2seq" / "t5_small_headlines_lora.yaml"


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-t5")
    tokenizer = word_tokenizer()
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2,
                      num_heads=2, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id)
    T5ForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def pairs(n: int = 120) -> Dataset:
    return topic_pairs(n).rename_columns({"prompt": "source", "response": "target"})


def config(tmp_path: Path, model_dir: str, strategy: str = "full", lr: float = 1e-2, **data):
    return config_from_dict({
        "task": "seq2seq", "output_dir": str(tmp_path / "out"), "model": {"name_or_path": model_dir},
        "data": {"dataset": None, "max_length": 32, "max_target_length": 8, "max_new_tokens": 4, **data},
        "strategy": {"name": strategy},
        "training": {"max_steps": 80, "per_device_train_batch_size": 16, "learning_rate": lr, "logging_steps": 10,
                     "eval_strategy": "no", "save_strategy": "no", "bf16": False, "disable_tqdm": True}})


def test_targets_are_the_labels_and_end_in_eos(t5_dir: str) -> None:
    tokenizer = word_tokenizer()
    cfg = DataConfig(dataset=None, max_length=32, max_target_length=8)
    splits = load_pairs(cfg, {"data.source_column": "source", "data.target_column": "target"}, 0, {"train": pairs(30)})
    row, raw = encode_seq2seq(splits, tokenizer, cfg, t5_dir)["train"][0], splits["train"][0]
    assert row["input_ids"] == tokenizer(raw["input"])["input_ids"]
    assert row["labels"] == tokenizer(raw["output"])["input_ids"] + [tokenizer.eos_token_id]


@pytest.mark.parametrize("strategy", ["full", "lora", "adapter"])
def test_train_save_reload_generate(tmp_path: Path, t5_dir: str, strategy: str) -> None:
    lr = {"full": 1e-2, "lora": 5e-2, "adapter": 5e-2}[strategy]
    result = Seq2SeqRecipe(config(tmp_path, t5_dir, strategy, lr=lr), train_dataset=pairs()).run()
    test, base = result.metrics["test"], result.metrics["baselines"]
    assert test["loss"] < base["pretrained_loss"] - (2.0 if strategy == "full" else 0.2), (base, test)
    if strategy == "full":
        assert test["exact_match"] > base["pretrained_exact_match"] + 0.3, (base, test)
    out = result.output_dir
    assert (out / "adapter_config.json").exists() == (strategy != "full")
    assert load_config(out / "recipe_config.yaml").task == "text2text-generation"
    card = (out / "README.md").read_text()
    assert "pipeline_tag: text2text-generation" in card and "model.generate(" in card

    model, tokenizer, cfg = load_for_inference(out)
    sources = [s["input"] for s in test["samples"]]
    reloaded = get_task(cfg.task).generate_answers(model, tokenizer, cfg, sources)
    assert reloaded == [s["prediction"] for s in test["samples"]]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["predict", str(out), sources[0]]) == 0
    assert json.loads(buf.getvalue())["generated_text"] == reloaded[0]


def test_shipped_yaml_runs_offline_on_a_tiny_t5(tmp_path: Path, t5_dir: str) -> None:
    path = tmp_path / "pairs.csv"
    pairs(90).to_csv(str(path), index=False)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["train", str(CONFIG), f"model.name_or_path={t5_dir}", "data.dataset=null",
                     f"data.train_file={path}", "data.max_length=32", "data.max_target_length=8",
                     "data.max_new_tokens=4", "training.max_steps=40", "training.learning_rate=5e-2",
                     "training.num_train_epochs=1", "training.bf16=false", "--output-dir", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["loss"] < metrics["baselines"]["pretrained_loss"] - 0.2


@pytest.mark.parametrize("data, overrides, param", [
    ({"text": ["a"] * 12, "target": ["b"] * 12}, {}, "data.source_column"),
    ({"source": ["a"] * 12, "summary": ["b"] * 12}, {}, "data.target_column"),
    ({"source": ["a b"] * 12, "target": ["x", ""] * 6}, {}, "data.target_column"),
    ({"source": ["a b"] * 12, "target": ["x"] * 12}, {"packing": True}, "data.packing"),
], ids=["missing-source-column", "missing-target-column", "empty-target", "packing"])
def test_bad_data_fails_before_the_model_loads(tmp_path: Path, t5_dir: str, monkeypatch: pytest.MonkeyPatch,
                                               data: dict, overrides: dict, param: str) -> None:
    monkeypatch.setattr(Seq2SeqRecipe, "build_model", classmethod(lambda *a: pytest.fail("model loaded")))
    with pytest.raises(ConfigError) as info:
        Seq2SeqRecipe(config(tmp_path, t5_dir, **overrides), train_dataset=Dataset.from_dict(data)).run()
    assert info.value.param == param and str(info.value).startswith(f"{param}=")
    assert not (tmp_path / "out").exists()


def test_a_decoder_only_checkpoint_is_refused(tmp_path: Path) -> None:
    from test_causal_lm import tiny_llama

    llama = tiny_llama(tmp_path / "llama")
    with pytest.raises(ConfigError, match="encoder-decoder") as info:
        Seq2SeqRecipe(config(tmp_path, llama), train_dataset=pairs(12)).run()
    assert info.value.param == "model.name_or_path"

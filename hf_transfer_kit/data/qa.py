"""Extractive question answering data (SQuAD format): checks, long-context windows, answer spans back to text.

A row is a question, a context and ``answers = {"text": [...], "answer_start": [...]}`` (character offsets into
the context). Contexts longer than ``data.max_length`` tokens are cut into overlapping windows
(``data.doc_stride``); each window is one model input, labelled with the answer's token span, or with the CLS
position when the answer lies outside it. Post-processing maps the best start / end logits of all windows of a
question back to characters of its context through the tokenizer's offset mapping.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np
from datasets import Dataset, DatasetDict

from ..config.schema import DataConfig
from ..errors import ConfigError
from .splits import carve_splits, check_splits, null_count, require_columns
from .files import load_raw


def qa_columns(cfg: DataConfig) -> dict[str, str]:
    return {"data.question_column": cfg.question_column, "data.context_column": cfg.context_column,
            "data.answers_column": cfg.answers_column}


def _check_rows(ds: Dataset, split: str, cfg: DataConfig) -> None:
    """Text columns are strings; every answer is a non-empty span found at its ``answer_start`` in the context."""
    for param, column in list(qa_columns(cfg).items())[:2]:
        nulls = null_count(ds, column)
        if nulls or getattr(ds.features[column], "dtype", None) not in ("string", "large_string"):
            raise ConfigError(param, column, f"needs text in every row of split '{split}' ({nulls} missing, type "
                              f"{getattr(ds.features[column], 'dtype', ds.features[column])}); fill or drop those rows.")
    for row, (context, answers) in enumerate(zip(ds[cfg.context_column], ds[cfg.answers_column])):
        if not isinstance(answers, dict) or not {"text", "answer_start"} <= set(answers):
            raise ConfigError("data.answers_column", cfg.answers_column, f"row {row} of split '{split}' holds "
                              f"{str(answers)[:80]!r}; use the SQuAD format {{'text': [answer], 'answer_start': "
                              "[character offset in the context]}.")
        texts, starts = answers["text"], answers["answer_start"]
        if not texts or len(texts) != len(starts):
            why = "no answer (unanswerable questions, as in SQuAD v2, are not supported)" if not texts else \
                f"{len(texts)} answer texts but {len(starts)} answer_start offsets"
            raise ConfigError("data.answers_column", cfg.answers_column, f"row {row} of split '{split}' has {why}; "
                              "give each question at least one answer span with its offset, or drop the row.")
        for text, start in zip(texts, starts):
            if not text or context[start:start + len(text)] != text:
                found = context.find(text) if text else -1
                hint = f"the text occurs at offset {found}" if found >= 0 else "the text is not in the context at all"
                raise ConfigError("data.answers_column", cfg.answers_column, f"row {row} of split '{split}': answer "
                                  f"{text!r} is not at answer_start={start} (the context has "
                                  f"{context[start:start + len(text)]!r} there; {hint}); fix answer_start (a "
                                  "character offset into the context) or drop the row.")


def prepare_qa_splits(cfg: DataConfig, seed: int, in_memory: Optional[Mapping[str, Dataset]] = None) -> DatasetDict:
    """``DatasetDict(train, validation, test)`` of SQuAD-format rows, every answer checked against its context."""
    raw = load_raw(cfg, in_memory)
    check_splits(raw, cfg)
    require_columns(raw, qa_columns(cfg))
    for split, ds in raw.items():
        _check_rows(ds, split, cfg)
    columns = {cfg.question_column: "question", cfg.context_column: "context", cfg.answers_column: "answers"}
    renamed = {split: ds.select_columns(list(columns)).rename_columns({k: v for k, v in columns.items() if k != v})
               for split, ds in raw.items()}
    return carve_splits(renamed, cfg, seed)


def check_question_room(ds: Dataset, split: str, tokenizer: Any, max_length: int, doc_stride: int) -> None:
    """Every question leaves a context window longer than ``doc_stride`` (the tokenizer aborts the process-level
    Rust code otherwise, naming neither the row nor the setting)."""
    lengths = [len(ids) for ids in tokenizer(list(ds["question"]), add_special_tokens=False)["input_ids"]]
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True) - doc_stride
    worst = max(range(len(lengths)), key=lengths.__getitem__, default=None)
    if worst is not None and lengths[worst] >= room:
        raise ConfigError("data.max_length", max_length, f"question {worst} of split '{split}' "
                          f"({ds[worst]['question'][:50]!r}) has {lengths[worst]} tokens, leaving no context window longer than doc_stride={doc_stride}; set data.max_length "
                          f"above {lengths[worst] + max_length - room} or a smaller data.doc_stride, or shorten the "
                          "question.")


def prepare_features(batch: Mapping[str, list], indices: list[int], tokenizer: Any, max_length: int,
                     doc_stride: int) -> dict[str, list]:
    """``datasets.map`` function: windows of (question, context) with start / end token labels, the example each
    came from, and the offsets of its context tokens (None elsewhere) for post-processing."""
    question_first = tokenizer.padding_side == "right"
    questions = [q.lstrip() for q in batch["question"]]  # leading spaces waste window room
    pair = (questions, batch["context"]) if question_first else (batch["context"], questions)
    encoded = tokenizer(*pair, truncation="only_second" if question_first else "only_first", max_length=max_length,
                        stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True)
    context_id = 1 if question_first else 0
    sample = encoded.pop("overflow_to_sample_mapping")
    starts, ends, example_ids, offsets = [], [], [], []
    for i, window in enumerate(encoded["offset_mapping"]):
        sequence = encoded.sequence_ids(i)
        example_ids.append(indices[sample[i]])
        offsets.append([o if s == context_id else None for o, s in zip(window, sequence)])
        if "answers" not in batch:  # new questions: windows only
            continue
        ids = encoded["input_ids"][i]
        cls = ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0
        answers = batch["answers"][sample[i]]
        first_char = answers["answer_start"][0]
        last_char = first_char + len(answers["text"][0])
        in_context = [k for k, s in enumerate(sequence) if s == context_id]
        lo, hi = in_context[0], in_context[-1]
        if window[lo][0] > first_char or window[hi][1] < last_char:  # the answer is not (wholly) in this window
            starts.append(cls)
            ends.append(cls)
        else:
            start = lo
            while start <= hi and window[start][0] <= first_char:
                start += 1
            end = hi
            while end >= lo and window[end][1] >= last_char:
                end -= 1
            starts.append(start - 1)
            ends.append(end + 1)
    if "answers" in batch:
        encoded["start_positions"], encoded["end_positions"] = starts, ends
    encoded["example_id"], encoded["offset_mapping"] = example_ids, offsets
    return encoded


def _log_softmax(logits: np.ndarray, valid: np.ndarray) -> np.ndarray:
    masked = np.where(valid, logits.astype(np.float64), -np.inf)
    return masked - np.logaddexp.reduce(masked)


def best_spans(contexts: Sequence[str], features: Any, start_logits: np.ndarray, end_logits: np.ndarray,
               n_best: int, max_answer_length: int) -> list[dict[str, Any]]:
    """For each example, the most probable valid span over all its windows: ``{answer, score, start, end}``, the
    shape of transformers' former question-answering pipeline (score = P(start) x P(end), softmax over the window's
    context tokens; start / end are character offsets in the context). Positions past a window's length (padding
    logits of -100) and outside the context never win."""
    by_example: dict[int, list[int]] = defaultdict(list)
    for feature, example in enumerate(features["example_id"]):
        by_example[example].append(feature)
    all_offsets = list(features["offset_mapping"])
    results = []
    for example, context in enumerate(contexts):
        best: dict[str, Any] = {"answer": "", "score": 0.0, "start": 0, "end": 0}
        best_log = -np.inf
        for feature in by_example.get(example, ()):
            offsets = all_offsets[feature]
            valid = np.array([o is not None for o in offsets])
            log_start = _log_softmax(start_logits[feature][:len(offsets)], valid)
            log_end = _log_softmax(end_logits[feature][:len(offsets)], valid)
            for a in np.argsort(log_start)[::-1][:n_best]:
                if not valid[a]:
                    continue
                for b in np.argsort(log_end)[::-1][:n_best]:
                    if not valid[b] or b < a or b - a + 1 > max_answer_length:
                        continue
                    score = log_start[a] + log_end[b]
                    if score > best_log:
                        start, end = offsets[a][0], offsets[b][1]
                        best_log = score
                        best = {"answer": context[start:end], "score": float(np.exp(score)), "start": int(start),
                                "end": int(end)}
        results.append(best)
    return results

"""Offline scores for generated text: exact match and ROUGE-L (F-measure), averaged over examples.

ROUGE-L is computed here from the longest common subsequence (Lin, 2004) rather than through ``rouge_score``:
that package pulls in nltk and absl for one dynamic programme. Tokenisation follows ``rouge_score``'s default
(lower-case, every run of characters other than a-z / 0-9 is a separator, no stemming), so the numbers match
``rouge_scorer.RougeScorer(["rougeL"]).score(ref, pred)["rougeL"].fmeasure`` on English text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    return _NON_ALNUM.sub(" ", text.lower()).split()


def normalize_answer(text: str) -> str:
    """Case, punctuation and spacing do not make an answer wrong: 'Sport.' matches 'sport'."""
    return " ".join(rouge_tokens(text))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (O(len(a) * len(b)) time, O(len(b)) memory)."""
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 between two texts (0 when either has no tokens)."""
    pred, ref = rouge_tokens(prediction), rouge_tokens(reference)
    common = lcs_length(pred, ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def generation_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """``exact_match`` (share of normalised predictions equal to their reference) and mean ``rougeL`` F1."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    n = max(len(references), 1)
    exact = sum(normalize_answer(p) == normalize_answer(r) for p, r in zip(predictions, references))
    rouge = sum(rouge_l(p, r) for p, r in zip(predictions, references))
    return {"exact_match": exact / n, "rougeL": rouge / n}


def perplexity(loss: float) -> float:
    """exp(mean cross-entropy per token); inf past float range (an untrained model can get there)."""
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf

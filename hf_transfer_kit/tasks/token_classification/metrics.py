"""Entity-level precision / recall / F1 for tagged sequences, with seqeval's "default" (conlleval) semantics.

Why not ``evaluate.load("seqeval")``: it fetches its script from the Hub and needs the ``seqeval`` package, so an
offline machine cannot score NER. The rules below are seqeval's ``get_entities`` / ``end_of_chunk`` /
``start_of_chunk``: IOB2, IOB1 and BIOES tags are all read leniently (an ``I-X`` after ``O`` or after another type
opens a new entity), and an entity counts only when its type, start and end all match. Tests cross-check them
against seqeval itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: A tag the entity metrics can read: O, or a B/I/E/S (or L/U) prefix and a type.
ENTITY_TAG = re.compile(r"^(O|[BIESLU]-.+)$")


def is_entity_scheme(tags: Sequence[str]) -> bool:
    """True when every tag is IOB / BIOES-shaped (``O``, ``B-PER``...); POS-style tags (``NN``) get token scores."""
    return bool(tags) and all(ENTITY_TAG.match(t) for t in tags) and any(t != "O" for t in tags)


def _split(tag: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, _, kind = tag.partition("-")
    return {"L": "E", "U": "S"}.get(prefix, prefix), kind or "_"


def _ends(prev_tag: str, tag: str, prev_type: str, kind: str) -> bool:
    return (prev_tag in ("E", "S") or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
            or (prev_tag != "O" and prev_type != kind))


def _starts(prev_tag: str, tag: str, prev_type: str, kind: str) -> bool:
    return (tag in ("B", "S") or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
            or (tag != "O" and prev_type != kind))


def get_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(type, first, last)`` for each entity in one sentence's tags (inclusive word indices)."""
    entities, prev_tag, prev_type, begin = [], "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        kind_tag, kind = _split(tag)
        if _ends(prev_tag, kind_tag, prev_type, kind):
            entities.append((prev_type, begin, i - 1))
        if _starts(prev_tag, kind_tag, prev_type, kind):
            begin = i
        prev_tag, prev_type = kind_tag, kind
    return entities


def _prf(true: int, pred: int, hit: int) -> dict[str, float]:
    precision = hit / pred if pred else 0.0
    recall = hit / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "number": true}


def entity_scores(references: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> dict[str, object]:
    """Micro precision / recall / F1 over entities, token accuracy, and the same per entity type.

    The shape of ``evaluate``'s seqeval metric: ``precision``, ``recall``, ``f1``, ``accuracy`` and
    ``per_type = {TYPE: {precision, recall, f1, number}}``; plus ``macro_f1``, the mean F1 over the entity types
    found in either (seqeval's macro average), which a frequent type cannot carry alone.
    """
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} reference sentences but {len(predictions)} predicted ones")
    gold: set[tuple[int, str, int, int]] = set()
    found: set[tuple[int, str, int, int]] = set()
    correct = total = 0
    for n, (ref, pred) in enumerate(zip(references, predictions)):
        if len(ref) != len(pred):
            raise ValueError(f"sentence {n}: {len(ref)} reference tags but {len(pred)} predicted")
        gold |= {(n, *e) for e in get_entities(ref)}
        found |= {(n, *e) for e in get_entities(pred)}
        correct += sum(r == p for r, p in zip(ref, pred))
        total += len(ref)
    overall = _prf(len(gold), len(found), len(gold & found))
    per_type = {}
    for kind in sorted({e[1] for e in gold | found}):
        g = {e for e in gold if e[1] == kind}
        f = {e for e in found if e[1] == kind}
        per_type[kind] = _prf(len(g), len(f), len(g & f))
    macro = sum(t["f1"] for t in per_type.values()) / len(per_type) if per_type else 0.0
    return {"precision": overall["precision"], "recall": overall["recall"], "f1": overall["f1"], "macro_f1": macro,
            "accuracy": correct / total if total else 0.0, "per_type": per_type}

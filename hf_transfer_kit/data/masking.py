"""Masked-LM inputs: tokenise a text corpus, pack it into blocks, mask it.

Training batches are masked on the fly (a new mask every epoch, from the global RNG that Trainer seeds and
checkpoints, so ``--resume`` replays the same masks). Validation and test blocks are masked **once, with a
fixed seed**: the perplexity before training (the baseline) and after it are then measured on exactly the
same masked tokens, and two runs of the same config report the same number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from datasets import Dataset, DatasetDict

#: Columns the collator reads; everything else is dropped after tokenisation.
MODEL_COLUMNS = ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask", "offset_mapping")


def tokenize_corpus(splits: DatasetDict, tokenizer: Any, max_length: int, group: bool, whole_word: bool) -> DatasetDict:
    """Tokenise the ``text`` column; with ``group`` concatenate and cut into ``max_length`` blocks.

    Why group: domain corpora are long documents. Truncating each to ``max_length`` would throw most of the text
    away; cutting the concatenation uses every token and needs no padding (only each map batch's last block is
    shorter). ``whole_word`` keeps the character offsets that tell the collator where words begin.
    """

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch["text"], return_special_tokens_mask=True, return_offsets_mapping=whole_word,
                            truncation=not group, max_length=None if group else max_length, verbose=False)
        return {k: v for k, v in encoded.items() if k in MODEL_COLUMNS}

    tokenized = splits.map(tokenize, batched=True, remove_columns=["text"], desc="tokenize")
    if not group:
        return tokenized
    return tokenized.map(lambda batch: group_into_blocks(batch, max_length), batched=True, desc="pack into blocks")


def group_into_blocks(batch: dict[str, list], block: int) -> dict[str, list]:
    """Concatenate every column of ``batch`` and cut it into ``block``-long pieces; the remainder is kept as a
    shorter last block (a small corpus still yields one example)."""
    joined = {k: list(chain.from_iterable(v)) for k, v in batch.items()}
    total = len(joined["input_ids"])
    return {k: [v[i:i + block] for i in range(0, total, block)] for k, v in joined.items()}


@dataclass
class MaskedLMCollator:
    """Masks training batches (transformers' ``DataCollatorForLanguageModeling``, 80/10/10 or whole-word) and only
    pads evaluation batches that were masked in advance (:func:`mask_once`), which carry their own ``labels``."""

    tokenizer: Any
    mlm_probability: float = 0.15
    whole_word: bool = False
    seed: int | None = None
    masker: Any = field(init=False, repr=False)
    padder: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from transformers import DataCollatorForLanguageModeling, DataCollatorForTokenClassification

        # transformers' whole-word masking always writes [MASK] (no 80/10/10); saying so avoids its warning
        replace = {"mask_replace_prob": 1.0, "random_replace_prob": 0.0} if self.whole_word else {}
        self.masker = DataCollatorForLanguageModeling(self.tokenizer, mlm_probability=self.mlm_probability,
                                                      whole_word_mask=self.whole_word, seed=self.seed, **replace)
        self.padder = DataCollatorForTokenClassification(self.tokenizer)  # pads labels with -100

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if "labels" in features[0]:
            return self.padder(features)
        if self.whole_word:
            features = _pad_offsets(features, self.tokenizer.padding_side)
        return self.masker(features)


def _pad_offsets(features: list[dict[str, Any]], side: str) -> list[dict[str, Any]]:
    """``tokenizer.pad`` leaves ``offset_mapping`` ragged; pad it with (0, 0) (padding is special: never masked)."""
    longest = max(len(f["input_ids"]) for f in features)
    out = []
    for f in features:
        pad = [[0, 0]] * (longest - len(f["input_ids"]))
        offsets = [list(o) for o in f["offset_mapping"]]
        out.append({**f, "offset_mapping": offsets + pad if side == "right" else pad + offsets})
    return out


def mask_once(ds: Dataset, collator: MaskedLMCollator, batch_size: int = 256) -> Dataset:
    """The dataset with a fixed mask applied (``input_ids`` masked, ``labels`` set), padding stripped again.

    ``collator`` must carry a seed: its generator then yields the same masks every time it is built.
    """
    rows: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": []}
    keep_types = "token_type_ids" in ds.column_names
    if keep_types:
        rows["token_type_ids"] = []
    for start in range(0, len(ds), batch_size):
        features = [dict(ds[i]) for i in range(start, min(start + batch_size, len(ds)))]
        batch = collator(features)
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            left = collator.tokenizer.padding_side == "left"
            window = slice(batch["input_ids"].shape[1] - n, None) if left else slice(0, n)
            for key in rows:
                rows[key].append(batch[key][row, window].tolist())
    return Dataset.from_dict(rows)

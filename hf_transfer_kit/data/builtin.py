"""Labelled data sets that install offline from package registries (``data.dataset: builtin:<name>``).

The raw sets are read in :mod:`.sources`; the others are constructed from them (cloze questions, multi-label and
regression sets, generation pairs), each in its own module. This table only names them.
"""

from __future__ import annotations

from collections.abc import Callable

from datasets import DatasetDict

from ..errors import ConfigError
from ..generation.examples import bbc_news_headlines, bbc_news_instruct
from . import target_sets
from .cloze import bbc_news_cloze
from .sources import FASHION_MNIST_DIR, bbc_news, digits, fashion_mnist, mnist, wnut16

BUILTIN_DATASETS: dict[str, Callable[[], DatasetDict]] = {
    "bbc_news": bbc_news, "digits": digits, "mnist": mnist, "fashion_mnist": fashion_mnist,
    "wnut16": wnut16,  # token-classification
    "bbc_news_cloze": bbc_news_cloze,  # question-answering (synthetic, from real articles)
    # multi-label / regression heads (model.problem_type); see hf_transfer_kit.data.target_sets
    "vader_lexicon": target_sets.vader_lexicon,
    "bbc_news_multi_label": target_sets.bbc_news_multi_label,
    "digit_pairs": target_sets.digit_pairs,
    "bbc_news_instruct": bbc_news_instruct,  # text-generation (constructed from real articles)
    "bbc_news_headlines": bbc_news_headlines,  # text2text-generation (real headlines)
}


def load_builtin(spec: str) -> DatasetDict:
    name = spec.split(":", 1)[1]
    if name not in BUILTIN_DATASETS:
        raise ConfigError("data.dataset", spec,
                          f"unknown builtin data set; available: {', '.join('builtin:' + n for n in BUILTIN_DATASETS)}.")
    return BUILTIN_DATASETS[name]()


__all__ = ["BUILTIN_DATASETS", "FASHION_MNIST_DIR", "load_builtin"]

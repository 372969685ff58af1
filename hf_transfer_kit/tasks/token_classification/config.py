"""The data section of task token-classification: pre-split words and one tag per word."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config.schema import TextDataConfig
from ...errors import ConfigError

#: Which sub-tokens of a word carry its tag when training token classification.
LABEL_ALIGNMENTS = ("first", "all")


@dataclass
class TokenClassificationDataConfig(TextDataConfig):
    """The data section of task token-classification: pre-split words and one tag per word."""

    words_column: str = field(default="tokens", metadata={"help": "token-classification: column holding each "
                              "example's words (a list of strings, already split; the Hub's NER sets call it "
                              "'tokens')."})
    tags_column: str = field(default="ner_tags", metadata={"help": "token-classification: column holding one tag per "
                             "word (strings such as 'B-PER', or ints with a ClassLabel feature or data.label_names)."})
    label_alignment: str = field(default="first", metadata={"help": "token-classification: which sub-tokens of a word "
                                 "carry its tag in training: 'first' (the rest are ignored) or 'all' (continuation "
                                 "pieces of a B- word get its I- tag). Evaluation always scores one tag per word."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.label_alignment not in LABEL_ALIGNMENTS:
            raise ConfigError("data.label_alignment", self.label_alignment, f"use one of {', '.join(LABEL_ALIGNMENTS)}.")

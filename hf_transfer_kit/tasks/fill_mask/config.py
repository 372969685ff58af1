"""The data section of task fill-mask (continued masked-LM pretraining on unlabelled text)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config.schema import TextDataConfig
from ...errors import ConfigError

#: How plain-text files split into examples (the ``sample_by`` of datasets' "text" builder).
TEXT_SAMPLE_BY = ("line", "paragraph", "document")


@dataclass
class FillMaskDataConfig(TextDataConfig):
    """The data section of task fill-mask (continued masked-LM pretraining on unlabelled text)."""

    text_column: str = field(default="text", metadata={"help": "Column holding the input text."})
    mlm_probability: float = field(default=0.15, metadata={"help": "fill-mask: share of tokens (or, with "
                                   "whole_word_masking, of words) masked for the model to predict (BERT: 0.15)."})
    whole_word_masking: bool = field(default=False, metadata={"help": "fill-mask: mask every sub-word piece of a "
                                     "chosen word together, so the model cannot guess a piece from its neighbours "
                                     "(needs a fast tokenizer)."})
    group_texts: bool = field(default=True, metadata={"help": "fill-mask: concatenate the tokenised texts and cut "
                              "them into blocks of max_length tokens (nothing truncated away, no padding); false: "
                              "one example per text, truncated to max_length."})
    text_sample_by: str = field(default="line", metadata={"help": "fill-mask with plain-text files (data.train_file: "
                                "a .txt file, a directory of them or a glob): one example per 'line', 'paragraph' "
                                "(blank-line separated) or 'document' (file)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.mlm_probability, bool) or not isinstance(self.mlm_probability, (int, float)) or \
                not 0 < self.mlm_probability < 1:
            raise ConfigError("data.mlm_probability", self.mlm_probability, "use a fraction strictly between 0 and 1, "
                              "e.g. 0.15 (BERT's choice).")
        if self.text_sample_by not in TEXT_SAMPLE_BY:
            raise ConfigError("data.text_sample_by", self.text_sample_by, f"use one of {', '.join(TEXT_SAMPLE_BY)}.")

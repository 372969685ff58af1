"""The data section of task question-answering: question, context and SQuAD-style answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config.schema import TextDataConfig
from ...errors import ConfigError


@dataclass
class QuestionAnsweringDataConfig(TextDataConfig):
    """The data section of task question-answering: question, context and SQuAD-style answers."""

    question_column: str = field(default="question", metadata={"help": "question-answering: column holding the "
                                 "question."})
    context_column: str = field(default="context", metadata={"help": "question-answering: column holding the passage "
                                "the answer is extracted from."})
    answers_column: str = field(default="answers", metadata={"help": "question-answering: SQuAD-style answers, "
                                "{'text': [str, ...], 'answer_start': [int, ...]} (character offsets in the context)."})
    doc_stride: int = field(default=128, metadata={"help": "question-answering: a context longer than max_length is "
                            "cut into overlapping windows that share this many tokens."})
    max_answer_length: int = field(default=30, metadata={"help": "question-answering: longest answer, in tokens, that "
                                   "post-processing may return."})
    n_best: int = field(default=20, metadata={"help": "question-answering: start and end candidates per window "
                        "considered when picking the answer span."})

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("doc_stride", "max_answer_length", "n_best"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"data.{name}", value, "use a positive whole number (defaults: doc_stride 128, "
                                  "max_answer_length 30, n_best 20).")

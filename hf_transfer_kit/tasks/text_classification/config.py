"""The data section of task text-classification (and of the distilled student, task distill)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ...config.schema import LabelDataConfig, TextDataConfig


@dataclass
class TextClassificationDataConfig(LabelDataConfig, TextDataConfig):
    """The data section of task text-classification (and of the distilled student, task distill)."""

    text_column: str = field(default="text", metadata={"help": "Column holding the input text."})
    text_pair_column: Optional[str] = field(default=None, metadata={"help": "Second text column for sentence-pair tasks."})

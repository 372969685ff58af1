"""The data section of task text2text-generation (seq2seq): source / target pairs."""

from __future__ import annotations

from dataclasses import dataclass, field
from ..generative_config import GenerationDataConfig
from ...errors import ConfigError


@dataclass
class Seq2SeqDataConfig(GenerationDataConfig):
    """The data section of task text2text-generation (seq2seq): source / target pairs."""

    source_column: str = field(default="source", metadata={"help": "text2text-generation: column holding the "
                               "encoder input."})
    target_column: str = field(default="target", metadata={"help": "text2text-generation: column holding the text "
                               "the decoder learns to generate."})
    max_target_length: int = field(default=128, metadata={"help": "text2text-generation: truncate targets to this "
                                   "many tokens (data.max_length truncates sources)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("max_target_length",):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"data.{name}", value, "use a positive token count, e.g. 32.")

"""The data fields both generation tasks (causal LM and seq2seq) share."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config.schema import TextDataConfig
from ..errors import ConfigError


@dataclass
class GenerationDataConfig(TextDataConfig):
    """Text in, generated text out: how much is generated when the run is scored or asked to predict."""

    max_new_tokens: int = field(default=32, metadata={"help": "text-generation / text2text-generation: tokens "
                                "generated per example in evaluation (exact match, ROUGE-L) and predict."})

    def __post_init__(self) -> None:
        super().__post_init__()
        value = self.max_new_tokens
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError("data.max_new_tokens", value, "use a positive token count, e.g. 32.")

"""The data section of task pair-match."""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_transfer_kit.config.schema import TextDataConfig


@dataclass
class PairMatchDataConfig(TextDataConfig):
    """Two text columns and a yes / no column."""

    first_column: str = field(default="first", metadata={"help": "pair-match: column holding the first sentence."})
    second_column: str = field(default="second", metadata={"help": "pair-match: column holding the second sentence."})
    match_column: str = field(default="match", metadata={"help": "pair-match: column holding true / false."})

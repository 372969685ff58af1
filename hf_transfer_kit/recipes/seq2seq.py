"""Sequence-to-sequence fine-tuning (T5, BART, Marian...) on source -> target pairs.

The encoder reads the source (truncated to ``data.max_length``), the decoder learns the target (truncated to
``data.max_target_length``); the loss is on the target tokens only by construction. Evaluation and prediction
generate greedily from the source.
"""

from __future__ import annotations

from typing import Any

from ..config import RecipeConfig
from ..config.schema import DataConfig
from ..errors import ConfigError
from ..generation.data import encode_seq2seq
from .generative import GenerativeRecipe


class Seq2SeqRecipe(GenerativeRecipe):
    """Fine-tune an encoder-decoder model to map source texts to target texts (summaries, headlines, answers...)."""

    task = "text2text-generation"
    aliases = ("seq2seq",)
    peft_task_type = "SEQ_2_SEQ_LM"
    auto_class = "AutoModelForSeq2SeqLM"
    column_params = {"data.source_column": "source_column", "data.target_column": "target_column"}
    model_hint = "use an encoder-decoder model (T5, BART, Marian...), or task: text-generation for a decoder-only one."

    def __init__(self, config: RecipeConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        if self.config.data.packing:
            raise ConfigError("data.packing", True, "packing concatenates prompt/response examples of decoder-only "
                              "models (task: text-generation); a seq2seq example is one source and one target, so "
                              "set data.packing=false.")

    def preprocess(self, splits: Any) -> Any:
        return encode_seq2seq(splits, self.tokenizer, self.config.data, self.config.model.name_or_path)

    @classmethod
    def generation_inputs(cls, tokenizer: Any, data: DataConfig, texts: list[str]) -> list[list[int]]:
        return [list(ids) for ids in tokenizer(list(texts), truncation=True, max_length=data.max_length)["input_ids"]]

"""What every text task shares: the tokenizer (same loading, errors and pad token everywhere), the refusal of
slow tokenizers where word ids or offsets are needed, and the check of ``data.max_length`` against the model's
position table (a longer input would crash inside the first forward pass)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..config.schema import TextDataConfig
from ..errors import ConfigError
from .base import Recipe


def check_positions(model: Any, max_length: int, hint: str = "") -> Any:
    """Refuse a ``data.max_length`` beyond the model's position table (the first forward pass would crash)."""
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is not None and max_length > positions:
        raise ConfigError("data.max_length", max_length, f"the model has {positions} positions; use "
                          f"data.max_length={positions} or less{hint}.")
    return model


class TextRecipe(Recipe):
    """Base of the text tasks: tokenizer loading and the position check (``data`` is a ``TextDataConfig``)."""

    data_config: ClassVar[type] = TextDataConfig
    #: Why the task needs a fast (Rust) tokenizer, or '' when a slow one will do.
    needs_fast_tokenizer: ClassVar[str] = ""
    #: Added to the ``data.max_length`` refusal (e.g. QA's doc_stride).
    positions_hint: ClassVar[str] = ""

    def load_preprocessor(self, model_path: str) -> Any:
        from transformers import AutoTokenizer

        model = self.config.model
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_path, revision=model.revision,
                                                      trust_remote_code=model.trust_remote_code)
        except (OSError, ValueError) as err:  # no tokenizer files, or a checkpoint of another modality
            raise ConfigError("model.name_or_path", model.name_or_path,
                              f"could not load a tokenizer ({str(err).splitlines()[0][:200]}); use a text model id or "
                              "a directory that holds its tokenizer files.") from err
        if self.needs_fast_tokenizer and not tokenizer.is_fast:
            raise ConfigError("model.name_or_path", model.name_or_path, f"{self.needs_fast_tokenizer}, which only "
                              "fast (Rust) tokenizers report; use a model that has a tokenizer.json (most on the Hub "
                              "do).")
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token  # decoder-only models ship without a pad token
        return tokenizer

    def load_model(self, model_path: str, label_names: list[str]) -> Any:
        return check_positions(super().load_model(model_path, label_names), self.config.data.max_length,
                               self.positions_hint)

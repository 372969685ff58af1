"""The task text2text-generation (alias seq2seq): encoder-decoder fine-tuning."""

from .recipe import Seq2SeqRecipe

__all__ = ["Seq2SeqRecipe"]

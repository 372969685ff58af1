"""Model cards: the public entry points, kept here so ``Recipe.save`` and user code import one stable name.

The implementation lives in :mod:`hf_transfer_kit.cards` (metadata, recipe tables, usage snippet, templates).
"""

from .cards import CARD_FILENAME, TEMPLATES, build_model_card, environment, model_reference, write_model_card

__all__ = ["CARD_FILENAME", "TEMPLATES", "build_model_card", "environment", "model_reference", "write_model_card"]

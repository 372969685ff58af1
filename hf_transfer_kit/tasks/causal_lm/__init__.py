"""The task text-generation (alias causal-lm): instruction tuning of a decoder-only model."""

from .recipe import CausalLMRecipe

__all__ = ["CausalLMRecipe"]

"""The task fill-mask (alias pretrain): continued masked-LM pretraining."""

from .recipe import MaskedLMPretrainRecipe

__all__ = ["MaskedLMPretrainRecipe"]

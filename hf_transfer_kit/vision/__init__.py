"""Vision models the kit adds to transformers' Auto classes (importing this package registers them)."""

from transformers import AutoConfig, AutoModel, AutoModelForImageClassification

from .efficientnet_lite import (
    EfficientNetLiteConfig, EfficientNetLiteForImageClassification, EfficientNetLiteModel,
)

AutoConfig.register(EfficientNetLiteConfig.model_type, EfficientNetLiteConfig, exist_ok=True)
AutoModel.register(EfficientNetLiteConfig, EfficientNetLiteModel, exist_ok=True)
AutoModelForImageClassification.register(EfficientNetLiteConfig, EfficientNetLiteForImageClassification, exist_ok=True)

__all__ = ["EfficientNetLiteConfig", "EfficientNetLiteForImageClassification", "EfficientNetLiteModel"]

"""Load a saved run (full model or adapter) and classify new inputs.

Full and partial fine-tunes are standalone transformers models; adapters are a PEFT adapter plus
the base model named in the saved recipe (so ``builtin:`` bases reload on any machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from .assets import resolve_model_path
from .config import CONFIG_FILENAME, RecipeConfig, load_config
from .errors import ConfigError


def load_for_inference(output_dir: str | Path) -> tuple[Any, Any, RecipeConfig]:
    """Return ``(model, preprocessor, config)`` for a directory written by ``Recipe.run``; model in eval mode.

    The task recipe named in the saved config knows its model class and preprocessor, so this works for
    every task; adapters are attached to the base model the config names.
    """
    from .recipes import recipe_for

    out = Path(output_dir)
    if not (out / CONFIG_FILENAME).is_file():
        raise ConfigError("output_dir", str(out), f"has no {CONFIG_FILENAME}; point at a directory written by "
                          "`hf-transfer-kit train`.")
    config = load_config(out / CONFIG_FILENAME)
    recipe_cls = recipe_for(config.task)
    preprocessor = recipe_cls.load_saved_preprocessor(str(out))
    if (out / "adapter_config.json").is_file():
        from peft import PeftModel

        from . import adapters  # noqa: F401  (registers the bottleneck method so its adapters load)

        base = recipe_cls.build_model(resolve_model_path(config.model.name_or_path), config.data.label_names or [],
                                      config.model, preprocessor)
        model = PeftModel.from_pretrained(base, str(out))
    else:
        model = recipe_cls.load_saved_model(str(out))
    return model.eval(), preprocessor, config


@torch.inference_mode()
def classify(model: Any, tokenizer: Any, texts: list[str], text_pairs: Optional[list[str]] = None,
             max_length: int = 512, batch_size: int = 32) -> list[dict[str, Any]]:
    """Label and score for each text, in the same ``{"label", "score"}`` shape as ``pipeline('text-classification')``."""
    was_training = model.training
    model.eval()
    id2label = model.config.id2label
    results: list[dict[str, Any]] = []
    device = next(model.parameters()).device
    for i in range(0, len(texts), batch_size):
        pairs = text_pairs[i:i + batch_size] if text_pairs else None
        batch = tokenizer(texts[i:i + batch_size], pairs, truncation=True, max_length=max_length, padding=True,
                          return_tensors="pt").to(device)
        probs = model(**batch).logits.float().softmax(-1)
        scores, ids = probs.max(-1)
        results += [{"label": id2label[int(j)], "score": float(s)} for s, j in zip(scores, ids)]
    model.train(was_training)
    return results


@torch.inference_mode()
def classify_images(model: Any, processor: Any, images: list[Any], batch_size: int = 32) -> list[dict[str, Any]]:
    """Label and score for each image (file path, PIL image or array), with the run's evaluation transform
    (RGB, then the saved image processor); the same ``{"label", "score"}`` as ``pipeline('image-classification')``."""
    from .data.image import open_images
    from .vision.transforms import ImageTransform

    transform = ImageTransform(processor, "image", train=False)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    results: list[dict[str, Any]] = []
    for i in range(0, len(images), batch_size):
        pixels = transform.images(open_images(images[i:i + batch_size])).to(device)
        probs = model(pixel_values=pixels).logits.float().softmax(-1)
        scores, ids = probs.max(-1)
        results += [{"label": model.config.id2label[int(j)], "score": float(s)} for s, j in zip(scores, ids)]
    model.train(was_training)
    return results


def load_pipeline(output_dir: str | Path) -> Any:
    """A ``transformers.pipeline`` for the run's task (text or image classification) over a saved run, adapters
    included."""
    from transformers import pipeline

    model, preprocessor, config = load_for_inference(output_dir)
    if config.task == "image-classification":
        return pipeline("image-classification", model=model, image_processor=preprocessor)
    if config.task == "fill-mask":  # a continued-pretraining output
        return pipeline("fill-mask", model=model, tokenizer=preprocessor)
    return pipeline("text-classification", model=model, tokenizer=preprocessor)

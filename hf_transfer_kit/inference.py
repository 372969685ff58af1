"""Load a saved run (full model or adapter) and classify new inputs.

Full and partial fine-tunes are standalone transformers models; adapters are a PEFT adapter plus
the base model named in the saved recipe (so ``builtin:`` bases reload on any machine).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from . import adapters  # noqa: F401  (registers the bottleneck method so its adapters load)
from . import kbit
from .assets import resolve_model_path
from .config import CONFIG_FILENAME, RecipeConfig, load_config
from .console import expected_new_head
from .data.image import open_images
from .errors import ConfigError
from .problems.base import top_class
from .registry import get_task
from .vision.transforms import ImageTransform


def load_for_inference(output_dir: str | Path, dequantize: bool = False) -> tuple[Any, Any, RecipeConfig]:
    """Return ``(model, preprocessor, config)`` for a directory written by ``Recipe.run``; model in eval mode.

    The task named in the saved config knows its model class and preprocessor, so this works for every task;
    adapters are attached to the base model the config names (loaded in k-bit again when the run was, or, with
    ``dequantize``, turned back into fp32 first: what an export merges the adapter into, kbit.py).
    """
    out = Path(output_dir)
    if not (out / CONFIG_FILENAME).is_file():
        raise ConfigError("output_dir", str(out), f"has no {CONFIG_FILENAME}; point at a directory written by "
                          "`hf-transfer-kit train`.")
    config = load_config(out / CONFIG_FILENAME)
    recipe_cls = get_task(config.task)
    preprocessor = recipe_cls.load_saved_preprocessor(str(out))
    if (out / "adapter_config.json").is_file():
        from peft import PeftModel

        with expected_new_head():  # the base is built with a new head, which the adapter's saved one replaces
            base = recipe_cls.build_model(resolve_model_path(config.model.name_or_path),
                                          config.data.label_names or [], config.model, preprocessor)
        model = PeftModel.from_pretrained(kbit.dequantized(base) if dequantize else base, str(out))
    else:
        model = recipe_cls.load_saved_model(str(out))
    return model.eval(), preprocessor, config


#: Turns a batch of logits (numpy, examples x outputs) and ``id2label`` into one prediction dict per example.
Decode = Callable[[np.ndarray, Mapping[int, str]], list[dict[str, Any]]]


@torch.inference_mode()
def text_logits(model: Any, tokenizer: Any, texts: list[str], text_pairs: Optional[list[str]] = None,
                max_length: int = 512, batch_size: int = 32) -> np.ndarray:
    """The model's logits for each text (eval mode, batched, padded per batch)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(texts), batch_size):
        pairs = text_pairs[i:i + batch_size] if text_pairs else None
        batch = tokenizer(texts[i:i + batch_size], pairs, truncation=True, max_length=max_length, padding=True,
                          return_tensors="pt").to(device)
        out.append(model(**batch).logits.float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, model.config.num_labels))


@torch.inference_mode()
def image_logits(model: Any, processor: Any, images: list[Any], batch_size: int = 32) -> np.ndarray:
    """The model's logits for each image (file path, PIL image or array), with the run's evaluation transform
    (RGB, then the saved image processor)."""
    transform = ImageTransform(processor, "image", train=False)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        pixels = transform.images(open_images(images[i:i + batch_size])).to(device)
        out.append(model(pixel_values=pixels).logits.float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, model.config.num_labels))


def classify(model: Any, tokenizer: Any, texts: list[str], text_pairs: Optional[list[str]] = None,
             max_length: int = 512, batch_size: int = 32, decode: Optional[Decode] = None) -> list[dict[str, Any]]:
    """Label and score for each text, in the same ``{"label", "score"}`` shape as ``pipeline('text-classification')``;
    ``decode`` reads the logits otherwise (a run's :class:`~hf_transfer_kit.problems.base.Problem`: label sets with
    their scores for multi-label, values for regression)."""
    logits = text_logits(model, tokenizer, texts, text_pairs, max_length, batch_size)
    return (decode or top_class)(logits, model.config.id2label)


def classify_images(model: Any, processor: Any, images: list[Any], batch_size: int = 32,
                    decode: Optional[Decode] = None) -> list[dict[str, Any]]:
    """Label and score for each image, the same ``{"label", "score"}`` as ``pipeline('image-classification')``
    (or what ``decode`` makes of the logits, as in :func:`classify`)."""
    return (decode or top_class)(image_logits(model, processor, images, batch_size), model.config.id2label)


def load_pipeline(output_dir: str | Path) -> Any:
    """A ``transformers.pipeline`` for the run's task over a saved run, adapters included (the task builds it: e.g.
    token classification groups words as the run aligned its tags; question answering, which transformers 5 no
    longer has a pipeline for, gets the same call and output)."""
    model, preprocessor, config = load_for_inference(output_dir)
    return get_task(config.task).pipeline(model, preprocessor, config)

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
    from .data.image import open_images
    from .vision.transforms import ImageTransform

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
    from .problems.base import top_class

    logits = text_logits(model, tokenizer, texts, text_pairs, max_length, batch_size)
    return (decode or top_class)(logits, model.config.id2label)


def classify_images(model: Any, processor: Any, images: list[Any], batch_size: int = 32,
                    decode: Optional[Decode] = None) -> list[dict[str, Any]]:
    """Label and score for each image, the same ``{"label", "score"}`` as ``pipeline('image-classification')``
    (or what ``decode`` makes of the logits, as in :func:`classify`)."""
    from .problems.base import top_class

    return (decode or top_class)(image_logits(model, processor, images, batch_size), model.config.id2label)


def load_pipeline(output_dir: str | Path) -> Any:
    """A ``transformers.pipeline`` for the run's task (text or image classification) over a saved run, adapters
    included."""
    from transformers import pipeline

    model, preprocessor, config = load_for_inference(output_dir)
    if config.task == "image-classification":
        return pipeline("image-classification", model=model, image_processor=preprocessor)
    if config.task == "fill-mask":  # a continued-pretraining output
        return pipeline("fill-mask", model=model, tokenizer=preprocessor)
    if config.task == "token-classification":  # words grouped the way the run aligned their tags
        from .recipes.token_classification import AGGREGATION

        return pipeline("token-classification", model=model, tokenizer=preprocessor,
                        aggregation_strategy=AGGREGATION[config.data.label_alignment])
    if config.task == "text-generation":  # generate with the run's prompt format: load_for_inference + the recipe
        return pipeline("text-generation", model=model, tokenizer=preprocessor)
    if config.task == "question-answering":  # transformers 5 has no such pipeline: ours, same call and output
        from .recipes.question_answering import answerer

        return QuestionAnswerer(answerer(model, preprocessor, config))
    return pipeline("text-classification", model=model, tokenizer=preprocessor)


class QuestionAnswerer:
    """``pipeline("question-answering")``'s call for a saved run: ``qa(question=..., context=...)`` (one dict, or a
    list for lists). transformers 5 removed that pipeline; the windows and post-processing are the run's own."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def __call__(self, question: str | list[str], context: str | list[str]) -> Any:
        single = isinstance(question, str)
        questions = [question] if single else list(question)
        contexts = [context] * len(questions) if isinstance(context, str) else list(context)
        results = self.answer(questions, contexts)
        return results[0] if single else results

"""On-the-fly image transforms with PIL and the checkpoint's image processor (no torchvision).

Why applied with ``datasets.set_transform`` rather than ``map``: augmentation must draw a new crop every
epoch, and nothing is materialised on disk (pixel tensors are ~50x the size of the encoded images).

* training: RGB -> random resized crop to the model's input size -> random flip -> optional colour
  jitter -> the processor's rescale + normalise (its own resize / crop switched off);
* evaluation: RGB -> the processor exactly as the checkpoint defines it (resize, centre crop, normalise).
  ``data.image_size`` rescales the processor itself (:func:`resize_overrides`), so the processor saved with a
  run -- and any ``pipeline`` built on it -- sees exactly the inputs the model was trained and evaluated on.

Randomness comes from ``torch``'s generator, which the Trainer seeds and DataLoader workers re-seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from ..errors import ConfigError


@dataclass(frozen=True)
class Augmentation:
    """Training-time augmentation settings (``data.crop_scale`` / ``horizontal_flip`` / ``color_jitter``)."""

    crop_scale: tuple[float, float] = (0.5, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    horizontal_flip: bool = True
    color_jitter: float = 0.0


def to_rgb(image: Any) -> Any:
    """Any PIL mode -> RGB: transparency composited on white, 16-bit / float greyscale scaled to 8 bits."""
    from PIL import Image

    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(image, dtype=np.float64)
        span = arr.max() - arr.min()
        arr = (arr - arr.min()) / span * 255 if span > 0 else np.zeros_like(arr)
        image = Image.fromarray(arr.astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")


def _as_dict(size: Any) -> dict[str, Any]:
    if size is None:
        return {}
    if isinstance(size, dict):
        return size
    return {k: getattr(size, k, None) for k in ("height", "width", "shortest_edge")}


def processor_size(processor: Any) -> tuple[int, int]:
    """(height, width) of the model input the processor produces."""
    crop = getattr(processor, "crop_size", None)
    size = getattr(processor, "size", None)
    for candidate in ((crop,) if getattr(processor, "do_center_crop", False) else ()) + (size, crop):
        found = _as_dict(candidate)
        if found.get("height") and found.get("width"):
            return int(found["height"]), int(found["width"])
        if found.get("shortest_edge"):
            return int(found["shortest_edge"]), int(found["shortest_edge"])
    raise ConfigError("model.name_or_path", type(processor).__name__, "its image processor has no output size "
                      "(size.height/width or size.shortest_edge); add one to the checkpoint's preprocessor_config.json.")


def resize_overrides(processor: Any, image_size: int) -> dict[str, dict[str, int]]:
    """``from_pretrained`` overrides of ``size`` / ``crop_size`` that make the processor output ``image_size``
    (its resize-then-crop proportions kept: a 256 -> 224 crop becomes 110 -> 96)."""
    scale = image_size / processor_size(processor)[0]
    overrides = {}
    for key in ("size", "crop_size"):
        found = _as_dict(getattr(processor, key, None))
        if found.get("height") and found.get("width"):
            overrides[key] = {"height": round(found["height"] * scale), "width": round(found["width"] * scale)}
        elif found.get("shortest_edge"):
            overrides[key] = {"shortest_edge": round(found["shortest_edge"] * scale)}
    return overrides


def _uniform(low: float, high: float) -> float:
    return float(torch.empty(()).uniform_(low, high))


def random_resized_crop(image: Any, size: tuple[int, int], scale: Sequence[float], ratio: Sequence[float]) -> Any:
    """torchvision's RandomResizedCrop on PIL: a random area / aspect-ratio box, resized to ``size`` (h, w)."""
    from PIL import Image

    width, height = image.size
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * _uniform(scale[0], scale[1])
        aspect = math.exp(_uniform(*log_ratio))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = int(torch.randint(0, width - w + 1, ()))
            top = int(torch.randint(0, height - h + 1, ()))
            break
    else:  # fall back to a centre crop at the nearest allowed aspect ratio
        aspect = min(max(width / height, ratio[0]), ratio[1])
        w, h = (width, round(width / aspect)) if width / height < aspect else (round(height * aspect), height)
        w, h = min(w, width), min(h, height)
        left, top = (width - w) // 2, (height - h) // 2
    return image.resize((size[1], size[0]), Image.BICUBIC, box=(left, top, left + w, top + h))


def color_jitter(image: Any, strength: float) -> Any:
    """Brightness, contrast and saturation each scaled by a factor drawn from [1 - strength, 1 + strength]."""
    from PIL import ImageEnhance

    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhancer(image).enhance(_uniform(1 - strength, 1 + strength))
    return image


class ImageTransform:
    """A ``set_transform`` callable: a batch with an image column -> ``pixel_values`` (+ ``labels``)."""

    def __init__(self, processor: Any, image_column: str, train: bool,
                 augmentation: Optional[Augmentation] = None) -> None:
        self.processor = processor
        self.image_column = image_column
        self.augmentation = augmentation if train else None
        self.size = processor_size(processor)
        # Our crop / resize replaces the processor's; ask it only to rescale and normalise.
        self.no_resize = {k: False for k in ("do_resize", "do_center_crop") if hasattr(processor, k)}

    def images(self, images: Sequence[Any]) -> Any:
        """Pixel values (N, 3, H, W) for PIL images (what inference uses too)."""
        from PIL import Image

        rgb = [to_rgb(image) for image in images]
        aug = self.augmentation
        if aug is None:
            return self.processor(rgb, return_tensors="pt")["pixel_values"]
        rgb = [random_resized_crop(image, self.size, aug.crop_scale, aug.crop_ratio) for image in rgb]
        if aug.horizontal_flip:
            rgb = [image.transpose(Image.FLIP_LEFT_RIGHT) if float(torch.rand(())) < 0.5 else image for image in rgb]
        if aug.color_jitter:
            rgb = [color_jitter(image, aug.color_jitter) for image in rgb]
        return self.processor(rgb, return_tensors="pt", **self.no_resize)["pixel_values"]

    def __call__(self, batch: dict[str, list]) -> dict[str, Any]:
        out: dict[str, Any] = {"pixel_values": list(self.images(batch[self.image_column]))}
        if "label" in batch:
            out["labels"] = batch["label"]
        return out


def collate(examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack the transformed examples into a batch (every image already has the same size)."""
    batch = {"pixel_values": torch.stack([ex["pixel_values"] for ex in examples])}
    if "labels" in examples[0]:
        labels = [ex["labels"] for ex in examples]
        # class ids for single-label; float multi-hot vectors (multi-label) or values (regression) stay float
        batch["labels"] = torch.tensor(labels, dtype=torch.long if isinstance(labels[0], int) else torch.float)
    return batch

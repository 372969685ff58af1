"""Image classification data: image folders, Hub / file / in-memory datasets, arrays and PIL images.

The split, label and cap logic is the text task's (:func:`~hf_transfer_kit.data.text.encode_and_split`);
what is specific to images happens here, before the model is loaded:

* every source ends with a ``datasets.Image`` column, so decoding and the on-the-fly transforms are the
  same whatever the images came as (files, bytes, numpy arrays, nested lists, PIL images, paths);
* arrays are checked for a shape and value range that is unambiguously an image, with a ConfigError
  naming ``data.image_column`` otherwise (a flattened 784-vector is not guessed to be 28x28);
* unreadable images are **skipped with a warning and counted** (real image folders often hold a few
  broken files, and one bad JPEG should not cost a run); a split left without images is an error.

Mixed sizes and modes are not errors: each image is converted to RGB and resized by the transforms.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, load_dataset

from ..config.schema import DataConfig
from ..errors import ConfigError
from .files import load_raw
from .text import encode_and_split

logger = logging.getLogger("hf_transfer_kit")
IMAGE_PARAM = "data.image_column"


def to_pil(value: Any, param: str = IMAGE_PARAM) -> Any:
    """A PIL image from a PIL image, a numpy array or nested lists: (H, W), (H, W, C) or (C, H, W), C in 1/3/4.

    Integers must lie in 0..255; floats in [0, 1] are scaled by 255, floats up to 255 are taken as 0..255.
    """
    from PIL import Image as PILImage

    if isinstance(value, PILImage.Image):
        return value
    arr = np.asarray(value)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channels first (PyTorch layout) -> channels last
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4))) or min(arr.shape[:2]) < 1:
        raise ConfigError(param, f"array of shape {arr.shape}", "an image array must be (H, W), (H, W, 1|3|4) or "
                          "(1|3|4, H, W); reshape flattened pixels first, e.g. x.reshape(-1, 28, 28).")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif not np.issubdtype(arr.dtype, np.number):
        raise ConfigError(param, f"array of dtype {arr.dtype}", "give numeric pixel values.")
    elif arr.dtype != np.uint8:
        low, high = float(arr.min()), float(arr.max())
        if np.issubdtype(arr.dtype, np.floating) and low >= 0 and high <= 1:
            arr = arr * 255.0
        elif low < 0 or high > 255:
            raise ConfigError(param, f"pixel values in [{low:g}, {high:g}]", "give uint8 / integers in 0..255 or "
                              "floats in [0, 1]; rescale the array first.")
        arr = np.rint(arr).astype(np.uint8)
    return PILImage.fromarray(arr)


def open_images(inputs: Sequence[Any], param: str = "images") -> list[Any]:
    """PIL images from file paths, PIL images or arrays (what ``predict`` accepts); a clear error per bad input."""
    from PIL import Image as PILImage

    out = []
    for item in inputs:
        if isinstance(item, (str, Path)):
            try:
                with PILImage.open(item) as img:
                    img.load()
                    out.append(img.copy())
            except (OSError, SyntaxError, ValueError) as err:  # missing file, not an image, truncated data
                raise ConfigError(param, str(item), f"is not a readable image file ({err}).") from err
        else:
            out.append(to_pil(item, param))
    return out


def image_dataset(images: Sequence[Any] | np.ndarray, labels: Sequence[Any],
                  label_names: Optional[Sequence[str]] = None) -> Dataset:
    """A ``Dataset`` with an ``image`` (``datasets.Image``) and a ``label`` column from arrays or PIL images.

    ``images`` is an (N, H, W[, C]) array or a list of arrays / PIL images; with ``label_names`` the integer
    labels become a ``ClassLabel`` (the names then end up in the model's ``id2label``).
    """
    if len(images) != len(labels):
        raise ConfigError("labels", f"{len(labels)} labels", f"give one label per image ({len(images)} images).")
    label_feature = ClassLabel(names=list(label_names)) if label_names is not None else None
    pil = [to_pil(x, "images") for x in images]
    features = Features({"image": Image(), "label": label_feature}) if label_feature else None
    ds = Dataset.from_dict({"image": pil, "label": list(labels)}, features=features)
    return ds if features else ds.cast_column("image", Image())


def load_image_folder(cfg: DataConfig) -> DatasetDict:
    """``imagefolder`` layout: ``root/<class>/*.png``, or ``root/{train,validation,test}/<class>/*``."""
    root = Path(str(cfg.image_folder)).expanduser()
    if not root.is_dir():
        raise ConfigError("data.image_folder", cfg.image_folder, "no such directory; give a folder with one "
                          "subfolder of images per class.")
    try:
        loaded = load_dataset("imagefolder", data_dir=str(root))
    except Exception as err:  # noqa: BLE001 -- datasets raises many types; the advice is the same
        raise ConfigError("data.image_folder", cfg.image_folder, f"could not be read as an image folder "
                          f"({type(err).__name__}: {err}); put images in one subfolder per class.") from err
    for split, ds in loaded.items():
        names = ds.features["label"].names if "label" in ds.features else []
        if len(names) < 2:
            found = f"only the class folder {names}" if names else "no class subfolders"
            raise ConfigError("data.image_folder", cfg.image_folder, f"found {found} in split '{split}'; an image "
                              "classifier needs at least 2 classes: put the images in one subfolder per class.")
    if cfg.train_split != "train" and "train" in loaded:
        loaded[cfg.train_split] = loaded.pop("train")
    return loaded


def ensure_image_column(ds: Dataset, column: str, split: str) -> Dataset:
    """Cast the column to ``datasets.Image``: paths and bytes directly, arrays / lists / PIL through :func:`to_pil`."""
    feature = ds.features[column]
    if isinstance(feature, Image):
        return ds.cast_column(column, Image()) if not feature.decode else ds
    if getattr(feature, "dtype", None) == "string":
        missing = [p for p in ds[column][:1000] if not Path(p).is_file()]
        if missing:
            raise ConfigError(IMAGE_PARAM, column, f"split '{split}' names files that do not exist, e.g. "
                              f"{missing[0]!r}; use paths relative to the working directory or absolute ones.")
        return ds.cast_column(column, Image())
    features = ds.features.copy()
    features[column] = Image()
    return ds.map(lambda batch: {column: [to_pil(v) for v in batch[column]]}, batched=True, features=features,
                  desc=f"images ({split})")


def _readable(example: Mapping[str, Any]) -> bool:
    """Decode in draft mode: a JPEG is decoded at reduced scale, so a whole folder checks quickly."""
    from PIL import Image as PILImage

    try:
        source = io.BytesIO(example["bytes"]) if example.get("bytes") else example["path"]
        with PILImage.open(source) as img:
            img.draft("RGB", (64, 64))
            img.load()
        return True
    except Exception:  # noqa: BLE001 -- PIL raises OSError, SyntaxError, ValueError... for broken files
        return False


def drop_unreadable(ds: Dataset, column: str, split: str) -> tuple[Dataset, list[str]]:
    """Remove images PIL cannot decode; return the dataset and the skipped files (or row numbers)."""
    raw = ds.cast_column(column, Image(decode=False))[column]
    bad = [i for i, ex in enumerate(raw) if not _readable(ex)]
    if not bad:
        return ds, []
    skipped = [raw[i].get("path") or f"{split}[{i}]" for i in bad]
    if len(bad) == len(ds):
        raise ConfigError(IMAGE_PARAM, column, f"none of the {len(ds)} images in split '{split}' can be decoded "
                          f"(e.g. {skipped[0]!r}); check the files are images.")
    logger.warning("skipping %d unreadable image(s) in split '%s': %s", len(bad), split, ", ".join(skipped[:5]))
    keep = sorted(set(range(len(ds))) - set(bad))
    return ds.select(keep), skipped


def prepare_image_splits(cfg: DataConfig, seed: int, num_labels: Optional[int] = None,
                         in_memory: Optional[Mapping[str, Dataset]] = None, problem_type: str = "single_label"
                         ) -> tuple[DatasetDict, list[str], dict[str, list[str]]]:
    """``(DatasetDict(train, validation, test), label names, skipped files per split)``; images decode to PIL."""
    raw = load_image_folder(cfg) if cfg.image_folder and not in_memory else load_raw(cfg, in_memory)
    splits, names = encode_and_split(raw, cfg, seed, num_labels, {IMAGE_PARAM: cfg.image_column}, problem_type)
    out, skipped = {}, {}
    for split, ds in splits.items():
        ds = ensure_image_column(ds, cfg.image_column, split)
        out[split], bad = drop_unreadable(ds, cfg.image_column, split)
        if bad:
            skipped[split] = bad
    return DatasetDict(out), names, skipped

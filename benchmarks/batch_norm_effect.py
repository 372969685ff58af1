"""What recomputing batch-norm statistics after training buys (``hf_transfer_kit/batchnorm.py``), paired in one run.

EfficientNet-Lite0 is fine-tuned once with ``training.recompute_batch_norm=false``; the test split is scored with the
statistics as trained, then every batch norm's statistics are recomputed on the training data and the test split is
scored again: the same weights, only the statistics differ.

    python -m benchmarks.batch_norm_effect IMAGE_FOLDER [overrides ...]
"""

from __future__ import annotations

import json
import sys

import torch

from hf_transfer_kit import ImageClassificationRecipe
from hf_transfer_kit.batchnorm import Tracker, recompute
from hf_transfer_kit.hardware import describe_machine


def main(argv: list[str]) -> None:
    folder, overrides = argv[0], argv[1:]
    recipe = ImageClassificationRecipe.from_yaml(
        "recipes/configs/vision/efficientnet_lite0_full.yaml",
        ["data.dataset=null", f"data.image_folder={folder}", "data.image_size=64", "training.recompute_batch_norm=false",
         "output_dir=/tmp/bn_effect", "overwrite_output_dir=true", "training.disable_tqdm=true", *overrides])
    result = recipe.run()
    as_trained = result.metrics["test"]
    model = recipe.trained_model()
    tracker = Tracker(model)
    tracker.updates = {id(m): 1 for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    cost = recompute(model, tracker, recipe.trainer)
    recomputed = recipe.evaluate("test")
    row = {"folder": folder, "epochs": result.metrics["train"]["epoch"],
           "accuracy_as_trained": as_trained["accuracy"], "accuracy_recomputed": recomputed["accuracy"],
           "f1_as_trained": as_trained["f1"], "f1_recomputed": recomputed["f1"], "recompute": cost,
           "machine": describe_machine()}
    print(json.dumps(row))


if __name__ == "__main__":
    main(sys.argv[1:])

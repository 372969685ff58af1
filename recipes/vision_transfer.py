"""The vision transfer walk-through, offline on 2 CPU cores in about 5 minutes:

    python recipes/vision_transfer.py                      # both experiments -> outputs/vision_transfer/
    python recipes/vision_transfer.py --only task          # ImageNet -> digits vs from scratch (~2 min)
    python recipes/vision_transfer.py --only domain        # ImageNet -> MNIST -> few digits (~3 min)

1. Task transfer: the ImageNet EfficientNet-Lite0 fine-tuned on scikit-learn's 8x8 digits, against the same
   architecture with random weights trained on the same images with the same budget.
2. Domain transfer: that model fine-tuned on MNIST first, then on only 100 labelled 8x8 digits, against
   ImageNet -> the same 100 digits.

Each step is an ordinary recipe run (pretrain -> preprocess -> fine-tune -> evaluate), so every arm leaves a
complete output directory (model, metrics.json, model card) under the output root. See
``hf_transfer_kit/vision/walkthrough.py`` for the steps themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hf_transfer_kit.vision.walkthrough import domain_transfer, task_transfer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-root", default="outputs/vision_transfer")
    parser.add_argument("--only", choices=["task", "domain"], help="run one experiment")
    args = parser.parse_args()
    root = Path(args.output_root)
    report: dict[str, dict] = {}
    start = time.perf_counter()
    if args.only in (None, "task"):
        report["task_transfer"] = task_transfer(root)
    if args.only in (None, "domain"):
        report["domain_transfer"] = domain_transfer(root)
    report["wall_seconds"] = round(time.perf_counter() - start, 1)  # type: ignore[assignment]
    root.mkdir(parents=True, exist_ok=True)
    (root / "walkthrough.json").write_text(json.dumps(report, indent=2) + "\n")

    print("\n=== vision transfer walk-through (test accuracy) ===")
    if "task_transfer" in report:
        t = report["task_transfer"]
        print(f"digits, {t['num_test_images']} test images:")
        print(f"  ImageNet EfficientNet-Lite0, fine-tuned : {t['pretrained_accuracy']:.4f}")
        print(f"  same architecture from scratch         : {t['scratch_accuracy']:.4f}")
        print(f"  pretrained, untrained head / majority  : {t['untrained_head_accuracy']:.4f} / "
              f"{t['majority_class_accuracy']:.4f}")
    if "domain_transfer" in report:
        d = report["domain_transfer"]
        print(f"digits with {d['target_train_images']} training images, {d['num_test_images']} test images:")
        print(f"  ImageNet -> MNIST -> digits            : {d['imagenet_mnist_digits_accuracy']:.4f}")
        print(f"  ImageNet -> digits                     : {d['imagenet_digits_accuracy']:.4f}")
        print(f"  MNIST model before digit training      : {d['mnist_model_on_digits_before_target_training']:.4f}"
              f"  (MNIST test accuracy {d['source_mnist_accuracy']:.4f})")
    print(f"wall time: {report['wall_seconds']} s; report: {root / 'walkthrough.json'}")


if __name__ == "__main__":
    main()

"""Compare fine-tuning strategies on the same data in one run: accuracy, trainable %, wall time.

    python recipes/compare_strategies.py                       # full, lora, adapter on BBC news, 1 epoch
    python recipes/compare_strategies.py --configs minilm_full minilm_linear_probe --set data.max_train_samples=200

Each strategy uses its YAML in recipes/configs/nlp/ plus the shared overrides. Writes
<out>/comparison.json and <out>/comparison.png (accuracy and trainable % per strategy) and prints a table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hf_transfer_kit import TextClassificationRecipe

CONFIGS = Path(__file__).parent / "configs" / "nlp"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["minilm_full", "minilm_lora", "minilm_adapter"])
    parser.add_argument("--set", nargs="*", default=[], help="overrides applied to every strategy")
    parser.add_argument("--out", default="outputs/compare")
    args = parser.parse_args()
    out = Path(args.out)
    rows = []
    for name in args.configs:
        overrides = ["training.num_train_epochs=1", "training.eval_strategy=no", *args.set,
                     f"output_dir={out / name}", "overwrite_output_dir=true"]
        print(f"\n=== {name} ===", flush=True)
        result = TextClassificationRecipe.from_yaml(CONFIGS / f"{name}.yaml", overrides).run()
        test = result.metrics["test"]
        rows.append({"config": name, "strategy": name.removeprefix("minilm_"),
                     "accuracy": test["accuracy"], "f1": test["f1"], "trainable": result.parameters.trainable,
                     "trainable_percent": result.parameters.percent,
                     "train_seconds": result.metrics["train"]["wall_seconds"],
                     "majority_baseline": result.metrics["baselines"].get("majority_class_accuracy")})
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(rows, indent=2))
    print(f"\n{'strategy':16s} {'accuracy':>9s} {'macro F1':>9s} {'trainable %':>12s} {'train s':>8s}")
    for r in rows:
        print(f"{r['strategy']:16s} {r['accuracy']:9.4f} {r['f1']:9.4f} {r['trainable_percent']:12.3f} {r['train_seconds']:8.1f}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    names = [r["strategy"] for r in rows]
    axes[0].bar(names, [r["accuracy"] for r in rows], color="tab:blue")
    axes[0].set_ylim(0, 1)
    axes[0].set_ylabel("test accuracy")
    axes[1].bar(names, [r["trainable_percent"] for r in rows], color="tab:orange")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("trainable parameters (%)")
    for ax in axes:
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(out / "comparison.png", dpi=120)
    print(f"wrote {out / 'comparison.json'} and {out / 'comparison.png'}")


if __name__ == "__main__":
    main()

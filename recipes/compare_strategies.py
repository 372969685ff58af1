"""Compare fine-tuning strategies on BBC news with MiniLM-L6, offline, against MiniLM's architecture from scratch.

    python recipes/compare_strategies.py                                  # 7 strategies + scratch, 1 epoch each
    python recipes/compare_strategies.py --strategies linear_probe lora --set training.max_steps=30   # a quick look
    python recipes/compare_strategies.py --docs                           # also refresh docs/strategy_comparison.*

The same as `hf-transfer-kit compare recipes/configs/nlp/minilm_full.yaml training.num_train_epochs=1
--strategies recipes/configs/nlp/minilm_{full,partial,linear_probe,bitfit,lora,ia3,adapter}.yaml`: each strategy
brings its learning rate from recipes/configs/nlp/minilm_<name>.yaml (a name without a YAML uses its defaults and
minilm_full's learning rate); the budget (1 epoch, batch 16, seed 42) is the same for all. Writes comparison.json,
comparison.md and comparison.png into --out and prints the table and the suggestion. Rerun after a kill: finished
strategies are reused from --out/runs/.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from hf_transfer_kit.compare import compare
from hf_transfer_kit.config import load_config

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "recipes" / "configs" / "nlp"
DEFAULT = ["full", "partial", "linear_probe", "bitfit", "lora", "ia3", "adapter"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", nargs="+", default=DEFAULT, help="names (minilm_<name>.yaml where it exists)")
    parser.add_argument("--set", nargs="*", default=[], help="overrides of the shared budget, e.g. training.max_steps=30")
    parser.add_argument("--no-scratch", action="store_true", help="skip the from-scratch baseline")
    parser.add_argument("--out", default="outputs/compare")
    parser.add_argument("--docs", action="store_true", help="copy the JSON and PNG to docs/strategy_comparison.*")
    args = parser.parse_args()
    base = load_config(CONFIGS / "minilm_full.yaml", ["training.num_train_epochs=1", *args.set])
    entries = [str(CONFIGS / f"minilm_{name}.yaml") if (CONFIGS / f"minilm_{name}.yaml").is_file() else name
               for name in args.strategies]
    comparison = compare(base, entries, args.out, scratch=not args.no_scratch)
    print(comparison.table())
    if comparison.suggestion:
        print(f"\nSuggested: {comparison.suggestion['reason']}")
    print(f"\nwrote {args.out}/comparison.json, comparison.md and comparison.png")
    if args.docs:
        for suffix in ("json", "png"):
            shutil.copyfile(Path(args.out) / f"comparison.{suffix}", ROOT / "docs" / f"strategy_comparison.{suffix}")


if __name__ == "__main__":
    main()

"""``hf-transfer-kit learning-curve CONFIG --shots 8 32 128 all --strategies linear_probe lora full --seeds 0 1 2``.

Trains each strategy on k labelled examples per class (seeded, stratified draws from the training split; the
validation and test splits stay the same for every run) and writes ``learning_curve.json`` and
``learning_curve.png`` (test accuracy against examples per class, mean ± 1 std over seeds, one line per
strategy) into ``--out``, then prints the table. A killed run continues where it stopped when rerun.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("learning-curve", help="accuracy vs labelled examples per class, per strategy, over seeds",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="text-classification recipe YAML (model, data, training)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides for CONFIG, e.g. data.max_length=64")
    parser.add_argument("--shots", nargs="*", default=["8", "32", "128", "all"],
                        help="labelled examples per class, or 'all' (default: 8 32 128 all)")
    parser.add_argument("--strategies", nargs="*", default=None,
                        help="strategy names (CONFIG with that strategy) or recipe YAMLs whose strategy and training "
                        "sections replace CONFIG's, e.g. recipes/configs/nlp/minilm_lora.yaml (default: CONFIG's)")
    parser.add_argument("--seeds", nargs="*", default=["0", "1", "2"], help="one run per seed (default: 0 1 2)")
    parser.add_argument("--min-steps", type=int, default=0,
                        help="train small subsets for at least this many optimizer steps (more epochs); 0: CONFIG's")
    parser.add_argument("--out", default="outputs/learning_curve", help="output directory")


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..errors import ConfigError
    from ..learning_curve import learning_curve

    if args.min_steps < 0:
        raise ConfigError("--min-steps", args.min_steps, "use 0 (the config's epochs) or a positive step count.")
    base = load_config(args.config, args.overrides)
    strategies = args.strategies if args.strategies is not None else [base.strategy.name]
    curve = learning_curve(base, args.shots, strategies, args.seeds, args.out, min_steps=args.min_steps,
                           progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(curve.table())
    print(json.dumps({"learning_curve": f"{args.out}/learning_curve.json", "plot": f"{args.out}/learning_curve.png",
                      "summary": curve.summary}))
    return 0

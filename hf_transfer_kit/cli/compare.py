"""``hf-transfer-kit compare CONFIG --strategies full lora linear_probe [--no-scratch] [--out DIR]``.

Trains each strategy -- and, unless --no-scratch, the same architecture from random weights, ``scratch (full)`` --
on the same seeded splits with CONFIG's budget (epochs / max_steps, batch size, seed), scores each on the same test
split, and writes ``comparison.json``, ``comparison.md`` (the table) and ``comparison.png`` (test accuracy against
trainable parameters and against training time) into --out. It prints the table and suggests a strategy: the most
accurate, or the one with the fewest trainable parameters within --tolerance percentage points of it. Each finished
strategy is kept in --out/runs/, so a killed comparison continues where it stopped when rerun.

Strategy entries: a name (``lora``; PEFT methods too: ``ia3``, ``loha``; CONFIG's learning rate), a name with settings
(``lora:r=16,lr=5e-3``; ``lr`` / ``training.<field>`` are that strategy's training arguments), or a recipe YAML
whose strategy and training sections replace CONFIG's (recipes/configs/nlp/minilm_lora.yaml: its own learning rate).
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("compare", help="strategies (and a from-scratch baseline) on the same data and budget",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="text-classification recipe YAML (model, data, training budget)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides for CONFIG, e.g. training.num_train_epochs=1")
    parser.add_argument("--strategies", nargs="*", default=None,
                        help="strategy names, name:key=value,... or recipe YAMLs, e.g. full lora:r=16 "
                        "recipes/configs/nlp/minilm_linear_probe.yaml")
    parser.add_argument("--scratch", action=argparse.BooleanOptionalAction, default=True,
                        help="also train the architecture from random weights, the control (default: on)")
    parser.add_argument("--tolerance", type=float, default=1.0,
                        help="suggest a cheaper strategy within this many accuracy points of the best (default: 1)")
    parser.add_argument("--out", default="outputs/compare", help="output directory")


def run(args: argparse.Namespace) -> int:
    from ..compare import compare
    from ..config import load_config
    from ..errors import ConfigError
    from ..strategies import STRATEGIES

    if not args.strategies:
        raise ConfigError("--strategies", args.strategies, f"name the strategies to compare, e.g. --strategies full "
                          f"lora linear_probe. Available: {', '.join(sorted(STRATEGIES))}, any PEFT method (ia3, "
                          "loha, ...), name:key=value settings, or recipe YAML files.")
    base = load_config(args.config, args.overrides)
    comparison = compare(base, args.strategies, args.out, scratch=args.scratch, tolerance=args.tolerance,
                         progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(comparison.table())
    suggestion = comparison.suggestion
    if suggestion:
        print(f"\nSuggested: {suggestion['reason']}")
    print(json.dumps({"comparison": f"{args.out}/comparison.json", "table": f"{args.out}/comparison.md",
                      "plot": f"{args.out}/comparison.png", "suggested": suggestion and suggestion["label"]}))
    return 0

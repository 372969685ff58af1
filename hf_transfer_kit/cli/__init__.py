"""``hf-transfer-kit`` command line: one module per subcommand, each with ``register`` and ``run``.

Heavy libraries (transformers, peft) are imported inside ``run`` so that ``--help`` and typos answer fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Optional

from ..errors import ConfigError, TrainingInterrupted
from . import card, demo, evaluate, export, predict, push, train
from . import learning_curve
from . import compare
from . import sweep

COMMANDS = {"train": train, "evaluate": evaluate, "predict": predict, "export": export, "demo": demo, "card": card,
            "push": push}
COMMANDS["learning-curve"] = learning_curve
COMMANDS["compare"] = compare
COMMANDS["sweep"] = sweep


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-transfer-kit",
        description="Transfer learning on transformers.Trainer: fine-tune a pretrained model with one strategy switch.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        module.register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `hf-transfer-kit train --help | head -1`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0


def _main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # Overrides may come after options (`train cfg.yaml --overwrite a.b=1`): argparse leaves those over.
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        from ..console import quiet_libraries

        quiet_libraries()
        return int(COMMANDS[args.command].run(args) or 0)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingInterrupted as err:
        print(f"stopped: {err}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

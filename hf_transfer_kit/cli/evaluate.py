"""``hf-transfer-kit evaluate OUTPUT_DIR``: score a saved run on its test split or on another file (the run's task
re-scores it: :meth:`hf_transfer_kit.tasks.base.Recipe.evaluate_saved`)."""

from __future__ import annotations

import argparse
import json


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (0 would silently mean 'all', a negative one a traceback)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive count; give 1 or more (leave it out for all)")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("evaluate", help="evaluate a saved run", description=__doc__)
    parser.add_argument("output_dir", help="directory written by `hf-transfer-kit train`")
    parser.add_argument("--file", help="csv/json/jsonl/parquet (or, for an image run, an image folder) to score "
                        "instead of the run's own test split")
    parser.add_argument("--max-samples", type=positive_int, default=None, help="score at most this many examples")


def run(args: argparse.Namespace) -> int:
    from ..inference import load_for_inference
    from ..registry import get_task

    model, preprocessor, config = load_for_inference(args.output_dir)
    metrics = get_task(config.task).evaluate_saved(args.output_dir, model, preprocessor, config, file=args.file,
                                                   max_samples=args.max_samples)
    print(json.dumps(metrics, indent=2, default=str))
    return 0

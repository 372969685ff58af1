"""``hf-transfer-kit predict OUTPUT_DIR INPUT...``: classify new texts or image files with a saved run."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("predict", help="classify texts or images with a saved run", description=__doc__)
    parser.add_argument("output_dir", help="directory written by `hf-transfer-kit train`")
    parser.add_argument("texts", nargs="*", help="texts to classify, or image file paths for an image-classification "
                        "run (or use --file / standard input)")
    parser.add_argument("--file", help="a text file with one input (text or image path) per line")
    parser.add_argument("--context", help="question-answering runs: the passage the questions (the texts) are answered "
                        "from, as text or the path of a text file")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..inference import load_for_inference
    from ..registry import get_task

    texts = list(args.texts)
    if args.file:
        with open(args.file, encoding="utf-8") as fh:
            texts += [line.rstrip("\n") for line in fh if line.strip()]
    if not texts and not sys.stdin.isatty():
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise ConfigError("texts", texts, "give texts as arguments, with --file, or on standard input.")
    blank = [i for i, text in enumerate(texts) if not text.strip()]
    if blank:
        raise ConfigError("texts", texts[blank[0]], f"input {blank[0] + 1} is empty: there is nothing to predict "
                          "from; give a non-empty text (or image path).")
    model, preprocessor, config = load_for_inference(args.output_dir)
    rows = get_task(config.task).predict_saved(args.output_dir, model, preprocessor, config, texts,
                                               context=args.context)
    for row in rows:
        print(json.dumps(row))
    return 0

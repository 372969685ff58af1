"""``hf-transfer-kit predict OUTPUT_DIR TEXT...``: classify new text with a saved run (model or adapter)."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("predict", help="classify text with a saved run", description=__doc__)
    parser.add_argument("output_dir", help="directory written by `hf-transfer-kit train`")
    parser.add_argument("texts", nargs="*", help="texts to classify (or use --file / standard input)")
    parser.add_argument("--file", help="a text file with one input per line")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..inference import classify, load_for_inference

    texts = list(args.texts)
    if args.file:
        with open(args.file, encoding="utf-8") as fh:
            texts += [line.rstrip("\n") for line in fh if line.strip()]
    if not texts and not sys.stdin.isatty():
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise ConfigError("texts", texts, "give texts as arguments, with --file, or on standard input.")
    model, tokenizer, config = load_for_inference(args.output_dir)
    for text, result in zip(texts, classify(model, tokenizer, texts, max_length=config.data.max_length)):
        print(json.dumps({"text": text[:80], **result}))
    return 0

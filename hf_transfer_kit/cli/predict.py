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
    if config.task == "fill-mask":  # a pretraining output: the top 5 fillers of each text's mask token
        from transformers import pipeline

        fill = pipeline("fill-mask", model=model, tokenizer=tokenizer)
        for text in texts:
            if tokenizer.mask_token not in text:
                raise ConfigError("texts", text, f"a masked-LM fills masks: put {tokenizer.mask_token} in the text.")
            fills = fill(text)
            fills = fills[0] if fills and isinstance(fills[0], list) else fills  # several masks: the first one
            print(json.dumps({"text": text[:80], "fills": [{"token": f["token_str"], "score": f["score"]}
                                                          for f in fills]}))
        return 0
    if config.task == "image-classification":
        from ..inference import classify_images

        for path, result in zip(texts, classify_images(model, tokenizer, texts)):
            print(json.dumps({"image": path, **result}))
        return 0
    for text, result in zip(texts, classify(model, tokenizer, texts, max_length=config.data.max_length)):
        print(json.dumps({"text": text[:80], **result}))
    return 0

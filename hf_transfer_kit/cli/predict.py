"""``hf-transfer-kit predict OUTPUT_DIR INPUT...``: classify new texts or image files with a saved run."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


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
    if config.task in TASK_PREDICTORS:
        for result in TASK_PREDICTORS[config.task](model, tokenizer, config, texts, args):
            print(json.dumps(result))
        return 0
    from ..problems import saved_problem

    decode = saved_problem(args.output_dir, config).decode  # multi-label: the saved thresholds; regression: values
    if config.task == "image-classification":
        from ..inference import classify_images

        for path, result in zip(texts, classify_images(model, tokenizer, texts, decode=decode)):
            print(json.dumps({"image": path, **result}))
        return 0
    for text, result in zip(texts, classify(model, tokenizer, texts, max_length=config.data.max_length,
                                            decode=decode)):
        print(json.dumps({"text": text[:80], **result}))
    return 0


def _tag(model: Any, tokenizer: Any, config: Any, texts: list[str], args: argparse.Namespace) -> list[dict]:
    from ..recipes.token_classification import tagger

    return [{"text": text[:80], "entities": entities}
            for text, entities in zip(texts, tagger(model, tokenizer, config)(texts))]


def _answer(model: Any, tokenizer: Any, config: Any, texts: list[str], args: argparse.Namespace) -> list[dict]:
    from pathlib import Path

    from ..errors import ConfigError
    from ..recipes.question_answering import answerer

    if not args.context:
        raise ConfigError("--context", None, "a question-answering run answers from a passage: give it with "
                          "--context TEXT (or --context FILE); the texts are the questions.")
    context = Path(args.context).read_text(encoding="utf-8") if Path(args.context).is_file() else args.context
    return [{"question": q[:80], **r} for q, r in zip(texts, answerer(model, tokenizer, config)(texts, [context] * len(texts)))]


def _generate(model: Any, tokenizer: Any, config: Any, texts: list[str], args: argparse.Namespace) -> list[dict]:
    """Greedy generation, at most data.max_new_tokens tokens, prompts formatted exactly as in training."""
    from ..recipes import recipe_for

    answers = recipe_for(config.task).generate_answers(model, tokenizer, config, texts)
    return [{"text": text[:80], "generated_text": answer} for text, answer in zip(texts, answers)]


#: Tasks whose predictions are not one label per input: (model, tokenizer, config, texts, args) -> JSON rows.
TASK_PREDICTORS: dict[str, Callable[..., list[dict]]] = {"token-classification": _tag, "question-answering": _answer}
TASK_PREDICTORS.update({"text-generation": _generate, "text2text-generation": _generate})

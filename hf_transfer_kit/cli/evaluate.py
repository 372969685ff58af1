"""``hf-transfer-kit evaluate OUTPUT_DIR``: score a saved run on its test split or on another file."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("evaluate", help="evaluate a saved run", description=__doc__)
    parser.add_argument("output_dir", help="directory written by `hf-transfer-kit train`")
    parser.add_argument("--file", help="csv/json/jsonl/parquet (or, for an image run, an image folder) to score "
                        "instead of the run's own test split")
    parser.add_argument("--max-samples", type=int, default=None, help="score at most this many examples")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from datasets import DatasetDict

    from ..data.text import prepare_splits
    from ..inference import load_for_inference
    from ..problems import saved_problem
    from ..recipes import recipe_for

    model, tokenizer, config = load_for_inference(args.output_dir)
    if config.task == "fill-mask":
        from ..errors import ConfigError

        raise ConfigError("output_dir", args.output_dir, "is a masked-LM pretraining run, which has no classes to "
                          "score; its test perplexity is in metrics.json. Fine-tune a classifier from it "
                          "(model.name_or_path=<this directory>) and evaluate that.")
    rescore = getattr(recipe_for(config.task), "rescore", None)
    if rescore is not None:  # generative runs: perplexity, exact match and ROUGE-L of fresh generations
        print(json.dumps(rescore(model, tokenizer, config, args.file, args.max_samples), indent=2))
        return 0
    if config.task in ("token-classification", "question-answering"):
        from ..errors import ConfigError

        raise ConfigError("output_dir", args.output_dir, f"is a {config.task} run; `evaluate` re-scores classifiers "
                          "only. Its test scores are in metrics.json; use `hf-transfer-kit predict` for new inputs.")
    data = config.data
    images = config.task == "image-classification"
    if args.file:
        data.train_file, data.test_file, data.validation_file, data.dataset = args.file, None, None, None
        data.test_size = 0.0
        data.validation_split = data.train_split  # score every example: carve no validation split out of the file
        if images:
            data.train_file, data.image_folder = None, args.file
    data.max_eval_samples = args.max_samples or data.max_eval_samples
    seed, num_labels = config.training.get("seed", 42), len(data.label_names or []) or None
    if images:
        from ..data.image import prepare_image_splits

        splits, names, _ = prepare_image_splits(data, seed=seed, num_labels=num_labels,
                                                problem_type=config.model.problem_type)
    else:
        splits, names = prepare_splits(data, seed=seed, num_labels=num_labels, problem_type=config.model.problem_type)
    split = splits["train"] if args.file else splits["test"]
    if args.file and args.max_samples:
        split = split.select(range(min(args.max_samples, len(split))))
    import torch

    from ..vision.transforms import ImageTransform

    logits = []
    transform = ImageTransform(tokenizer, data.image_column, train=False) if images else None
    with torch.inference_mode():
        for i in range(0, len(split), 64):
            rows = split[i:i + 64]
            if transform is not None:
                logits.append(model(pixel_values=transform.images(rows[data.image_column])).logits.float().numpy())
                continue
            pair = rows[data.text_pair_column] if data.text_pair_column else None
            batch = tokenizer(rows[data.text_column], pair, truncation=True, max_length=data.max_length, padding=True,
                              return_tensors="pt")
            logits.append(model(**batch).logits.float().numpy())
    logits_np = np.concatenate(logits)
    labels = np.asarray(split["label"])
    metrics = saved_problem(args.output_dir, config).score(logits_np, labels, names)
    metrics["num_examples"] = len(split)
    print(json.dumps(metrics, indent=2))
    return 0

"""``hf-transfer-kit train CONFIG [key=value ...]``: run a recipe from YAML with dotted overrides."""

from __future__ import annotations

import argparse
import json
import sys


class _ConfigHelp(argparse.Action):
    """``--help`` that also lists every config field (built lazily: it imports transformers)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show this help, with every config field, and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from .config_help import config_help

        print(parser.format_help())
        print(config_help())
        parser.exit()


def add_run_arguments(parser: argparse.ArgumentParser, config_required: bool = True) -> None:
    parser.add_argument("-h", "--help", action=_ConfigHelp)
    parser.add_argument("config", nargs=None if config_required else "?", help="recipe YAML (see recipes/configs/)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. training.learning_rate=3e-4 strategy.name=lora")
    parser.add_argument("--output-dir", help="shortcut for output_dir=...")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    parser.add_argument("--resume-allow-changes", action="store_true", help="with --resume: accept changed epochs, "
                        "step counts and logging / evaluation / saving cadence (resume_allow_changes=true)")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", add_help=False, help="fine-tune from a recipe YAML",
                            description="Fine-tune a pretrained model from a recipe YAML plus dotted overrides.")
    add_run_arguments(parser)


def overrides_from(args: argparse.Namespace) -> list[str]:
    overrides = list(args.overrides)
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    if args.overwrite:
        overrides.append("overwrite_output_dir=true")
    if getattr(args, "resume", False):
        overrides.append("resume=true")
    if getattr(args, "resume_allow_changes", False):
        overrides.append("resume_allow_changes=true")
    return overrides


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..registry import get_task
    from ..workflow import is_main_process, train

    config = load_config(args.config, overrides_from(args))
    result = train(config)
    if not is_main_process():  # under torchrun / accelerate: one summary per run, from rank 0
        return 0
    test = result.metrics["test"]
    summary = {k: test.get(k) for k in get_task(config.task).result_metrics(config) if k in test}
    print_summary(config, result, summary)
    print(json.dumps({"output_dir": str(result.output_dir), "test": summary,
                      "trainable_percent": round(result.parameters.percent, 4)}))  # one line: easy to parse
    sys.stdout.flush()
    return 0


def print_summary(config: object, result: object, summary: dict) -> None:
    """What a newcomer wants after a run, on standard error: what was trained, how it scored against the baselines,
    where it is and what to run next (the JSON line on standard output is for scripts)."""
    from ..registry import get_task

    cfg, res = config, result
    labels = get_task(cfg.task).result_metrics(cfg)  # type: ignore[attr-defined]  # "F1 (macro)", as on the card
    scores = ", ".join(f"{labels.get(k, k)} {v:.4f}" if isinstance(v, float) else f"{labels.get(k, k)} {v}"
                       for k, v in summary.items())
    base = res.metrics.get("baselines") or {}  # type: ignore[attr-defined]
    shown = ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in base.items() if isinstance(v, float))[:300]
    lines = [f"[hf_transfer_kit] trained {cfg.model.name_or_path} for {cfg.task} with strategy "  # type: ignore[attr-defined]
             f"{cfg.strategy.name} ({res.parameters.summary()})",  # type: ignore[attr-defined]
             f"[hf_transfer_kit] test: {scores or 'see metrics.json'}"]
    if shown:
        lines.append(f"[hf_transfer_kit] baselines: {shown}")
    out = res.output_dir  # type: ignore[attr-defined]
    lines.append(f"[hf_transfer_kit] saved to {out} (model card: {out}/README.md); next: "
                 f"hf-transfer-kit predict {out} \"...\"  or  hf-transfer-kit evaluate {out} --file new.csv")
    print("\n".join(lines), file=sys.stderr, flush=True)

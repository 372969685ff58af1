"""``hf-transfer-kit export OUTPUT_DIR DEST [--merge] [--format onnx [--quantize int8]]``: a standalone copy of a
trained run.

``--format transformers`` (the default):

- full / partial fine-tunes are already standalone: they are copied.
- LoRA-family adapters with ``--merge`` are folded into the base weights (``merge_and_unload``): DEST is a
  plain transformers model that ``pipeline`` / ``AutoModelFor...`` load with no PEFT installed.
- without ``--merge`` an adapter is exported unmerged: the adapter plus a copy of its base model in
  ``DEST/base_model``, so it loads anywhere, offline, with ``PeftModel`` / ``AutoPeftModel...``.
Bottleneck adapters and prompt-style methods add layers or tokens that no weight can absorb; ``--merge``
refuses them before any work and points at the unmerged export.

``--format onnx`` (text and image classification runs; LoRA-family adapters are merged first, as with ``--merge``):
``model.onnx`` with dynamic batch (and sequence) axes, checked against PyTorch with onnxruntime on the run's test
split; ``--quantize int8`` adds ``model.int8.onnx`` and measures both (accuracy, CPU latency) in DEST's README.md and
export.json. Needs ``pip install 'hf-transfer-kit[onnx]'``. Details: :mod:`hf_transfer_kit.onnx_export`.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

#: PEFT types whose trained parameters are extra layers or virtual tokens, not weight deltas.
NOT_MERGEABLE = {"BOTTLENECK", "PREFIX_TUNING", "PROMPT_TUNING", "P_TUNING", "MULTITASK_PROMPT_TUNING"}
FORMATS = ("transformers", "onnx")
QUANTIZATIONS = ("int8",)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("export", help="write a standalone copy of a run (merge LoRA into the weights)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir", help="directory written by `hf-transfer-kit train`")
    parser.add_argument("dest", help="where to write the export")
    parser.add_argument("--merge", action="store_true", help="fold a LoRA-family adapter into the base weights")
    parser.add_argument("--format", choices=FORMATS, default="transformers",
                        help="transformers (default): a model directory; onnx: model.onnx checked with onnxruntime "
                        "(text / image classification; adapters merged)")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, default=None,
                        help="with --format onnx: also write model.int8.onnx (dynamic int8) and measure fp32 vs int8 "
                        "accuracy and CPU latency on the run's test split")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DEST")


def standalone_model(src: Path, peft_type: str | None) -> tuple[Any, Any, Any]:
    """``(model, preprocessor, config)`` of a run as one plain transformers model: an adapter is folded into its base
    weights (``merge_and_unload``), a k-bit base dequantized first (kbit.py); a full fine-tune is loaded as it is."""
    from ..inference import load_for_inference

    model, preprocessor, config = load_for_inference(src, dequantize=True)
    return (model.merge_and_unload() if peft_type else model), preprocessor, config


def export(output_dir: str | Path, dest: str | Path, merge: bool = False, overwrite: bool = False,
           format: str = "transformers", quantize: str | None = None, tolerance: float | None = None) -> Path:
    """Write the export atomically (staged, then renamed) and return its path. ``format="onnx"``: see
    :func:`hf_transfer_kit.onnx_export.write` (``tolerance``: the check's bound on the logits' difference)."""
    from .. import outputs
    from ..config import CONFIG_FILENAME, load_config, save_config
    from ..errors import ConfigError
    from ..inference import load_for_inference

    src = Path(output_dir)
    if not (src / CONFIG_FILENAME).is_file():
        raise ConfigError("output_dir", str(src), "is not a run directory; point at one written by `hf-transfer-kit train`.")
    if Path(dest).resolve() == src.resolve() or src.resolve().is_relative_to(Path(dest).resolve()):
        raise ConfigError("dest", str(dest), f"is the run being exported ({src}) or holds it; an export replacing its "
                          "own source would delete it. Choose another destination.")
    adapter_file = src / "adapter_config.json"
    peft_type = json.loads(adapter_file.read_text()).get("peft_type") if adapter_file.is_file() else None
    if format not in FORMATS:
        raise ConfigError("--format", format, f"use one of {', '.join(FORMATS)} (transformers is the default).")
    if quantize is not None and format != "onnx":
        raise ConfigError("--quantize", quantize, "quantises the ONNX model; add --format onnx.")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ConfigError("--quantize", quantize, f"use {' or '.join(QUANTIZATIONS)} (onnxruntime dynamic "
                          "quantisation), or leave it out.")
    if format == "onnx":
        from .. import onnx_export

        onnx_export.check_task(load_config(src / CONFIG_FILENAME).task)
        if peft_type in NOT_MERGEABLE:
            raise ConfigError("--format", "onnx", f"the graph is exported from the model with its adapter merged, "
                              f"and {peft_type.lower()} adapters add layers (or tokens) that cannot be folded into "
                              "the base weights; export with --format transformers (the adapter with its base model, "
                              "loadable with PeftModel) instead.")
        onnx_export.check_packages()
    outputs.check_output_dir(dest, overwrite)
    if merge and peft_type in NOT_MERGEABLE:
        raise ConfigError("--merge", True, f"{peft_type.lower()} adapters add layers (or tokens) that cannot be folded "
                          "into the base weights; run `hf-transfer-kit export OUTPUT_DIR DEST` without --merge for "
                          "the unmerged export (adapter + base model, loadable with PeftModel).")

    staging = outputs.begin(dest)
    try:
        if format == "onnx":
            model, preprocessor, config = standalone_model(src, peft_type)
            onnx_export.write(staging, src, model, preprocessor, config, quantize=quantize,
                              tolerance=onnx_export.TOLERANCE if tolerance is None else tolerance,
                              adapter=peft_type)
        elif peft_type is None:  # already a standalone transformers model
            shutil.rmtree(staging)
            shutil.copytree(src, staging)
        else:
            if merge:
                model, preprocessor, config = standalone_model(src, peft_type)
                model.save_pretrained(str(staging))
                preprocessor.save_pretrained(str(staging))
                save_config(config, staging)
                (staging / "README.md").write_text((src / "README.md").read_text() if (src / "README.md").exists() else "")
            else:
                from ..assets import resolve_model_path
                from ..registry import get_task

                # The base with the run's label config, un-adapted: a fresh build, since `model` holds the adapter.
                model, preprocessor, config = load_for_inference(src)
                base_dir = staging / "base_model"
                recipe_cls = get_task(config.task)
                base = recipe_cls.build_model(resolve_model_path(config.model.name_or_path), config.data.label_names or [],
                                              config.model, preprocessor)
                base.save_pretrained(str(base_dir))
                preprocessor.save_pretrained(str(base_dir))
                for item in src.iterdir():
                    if item.is_file():
                        shutil.copy2(item, staging / item.name)
                final_base = Path(dest).resolve() / "base_model"
                adapter_config = json.loads((staging / "adapter_config.json").read_text())
                adapter_config["base_model_name_or_path"] = str(final_base)
                (staging / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))
                config.model.name_or_path = str(final_base)
                save_config(config, staging)
        return outputs.commit(staging, dest)
    except BaseException:
        outputs.abort(staging)
        raise


def run(args: argparse.Namespace) -> int:
    out = export(args.output_dir, args.dest, merge=args.merge, overwrite=args.overwrite, format=args.format,
                 quantize=args.quantize)
    if args.format == "onnx":
        report = json.loads((out / "export.json").read_text())
        summary = {"export": str(out), "format": "onnx", "max_abs_diff": report["check"]["max_abs_diff"]}
        if report.get("test_split"):
            summary["test"] = report["test_split"]["onnx_fp32"]
        if report.get("int8", {}).get("onnx_int8"):
            summary["test_int8"] = report["int8"]["onnx_int8"]
        print(json.dumps(summary))
        return 0
    print(json.dumps({"export": str(out), "merged": bool(args.merge)}))
    return 0

"""The bad-input catalogue (issue 8, item 3): plausible mistakes, each run for real against the kit.

Every entry in ``CATALOGUE`` is a wrong setting (YAML snippet, dotted override, data set, file or environment)
applied on top of a small working config. The one parametrised test runs it and holds the kit to its contract:

* a :class:`hf_transfer_kit.errors.ConfigError` is raised whose ``param`` is the setting at fault, and whose
  message reads ``param=value: fix`` -- the value as given (``<redacted>`` for secrets), and a fix that says
  what to do (not just the value again);
* it is raised before training starts: ``transformers.Trainer.train`` is never called;
* nothing is written: the scratch directory holds exactly what the entry put there (no output directory,
  no ``.out.partial`` staging directory).

``docs/bad_inputs.md`` is generated from the same entries and the messages the kit actually gave, so it cannot
drift: the test fails when a message differs from the one in the document. After changing a message, run

    python tests/test_bad_inputs.py --write

Entries with ``gap`` set document inputs that still get an unclear error from code owned elsewhere; they are
strict xfails (``KnownGap``), so the day the fix lands the test fails until the entry moves to the catalogue.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "bad_inputs.md"
#: When set (by ``--write``), each run appends its observed message here instead of comparing with the doc.
RECORD_ENV = "HF_KIT_BAD_INPUTS_RECORD"
MISSING = object()
SENTINEL_TOKEN = "hf_SENTINEL_do_not_print_0123456789"
#: What makes a message say how to fix the input rather than only restate it: an instruction, an example, or the
#: list of valid choices to pick from.
FIX_WORDS = re.compile(r"\b(use|set|give|choose|pass|remove|run|map|check|drop|fill|install|unset|leave|rename|"
                       r"convert|point|quote|put|fix|change|reshape|write)\b|e\.g\.|did you mean|\bvalid:|"
                       r"\bavailable:", re.IGNORECASE)


class KnownGap(Exception):
    """A catalogued input that still gets an unclear error (see ``BadInput.gap``)."""


@dataclasses.dataclass(frozen=True)
class BadInput:
    """One bad input and the parameter the kit must blame for it.

    ``config`` is a YAML-shaped patch deep-merged over the base config (text, or vision when it sets
    ``task: image-classification``); ``overrides`` are applied after it like command-line overrides. Strings may
    use the placeholders ``<tmp>`` (the scratch directory; output_dir is ``<tmp>/out``), ``<tiny-bert>``,
    ``<tiny-vit>`` and ``<tiny-cnn>`` (tiny random checkpoints).
    """

    id: str
    area: str
    param: str
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    #: A recipe YAML read with ``load_config`` (relative to <tmp>) instead of the base config.
    config_path: Optional[str] = None
    #: In-memory ``train_dataset``: (description for the doc, factory taking <tmp>); "default" = the toy data.
    data: Any = "default"
    #: Files created under <tmp> first (str or bytes content; a name ending in "/" is a directory).
    files: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: Hub environment: {"offline": bool, "token": str | None}.
    hub_env: Optional[Mapping[str, Any]] = None
    #: The value the message must show; by default looked up at ``param`` in the merged config.
    value: Any = MISSING
    #: A secret that must not appear in the message.
    secret: Optional[str] = None
    note: str = ""
    #: Where the fix belongs, for an input that still gets an unclear error (a strict xfail).
    gap: Optional[str] = None
    #: Returns a reason to skip the entry on this machine (e.g. "CUDA present"), or None.
    skip_if: Optional[Callable[[], Optional[str]]] = None
    #: Packages made to look uninstalled (``importlib.util.find_spec`` answers None), e.g. ("deepspeed",).
    hide_modules: tuple[str, ...] = ()
    #: A library entry point run on the merged config and <tmp> instead of a training run (e.g. ``compare``), and
    #: the command a user types for it, as the doc shows it.
    call: Optional[Callable[[Any, Path], Any]] = None
    command: str = ""


# ---- data and files the entries use ----------------------------------------------------------------------------

def _text(rows: Mapping[str, list]) -> Callable[[Path], Any]:
    def make(tmp: Path) -> Any:
        from datasets import Dataset

        return Dataset.from_dict(dict(rows))
    return make


def _image_paths(paths: list[str]) -> Callable[[Path], Any]:
    def make(tmp: Path) -> Any:
        from datasets import Dataset

        return Dataset.from_dict({"image": [p.replace("<tmp>", str(tmp)) for p in paths], "label": [0, 1] * 3})
    return make


def _png(level: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (6, 6), level).save(buf, format="PNG")
    return buf.getvalue()


def _flat_images(tmp: Path) -> Any:
    from datasets import Dataset

    return Dataset.from_dict({"image": [[0] * 784] * 6, "label": [0, 1] * 3})


def _no_cuda() -> Optional[str]:
    import torch

    return "a CUDA GPU is present (fp16 works there)" if torch.cuda.is_available() else None


def _cpu_only() -> Optional[str]:
    import torch

    return None if torch.accelerator.is_available() else "no GPU: FSDP itself is refused on CPU processes first"


def _compare(cfg: Any, tmp: Path, strategies: list[str], **kwargs: Any) -> Any:
    from hf_transfer_kit.compare import compare

    return compare(cfg, strategies, tmp / "out", **kwargs)


def _sweep(cfg: Any, tmp: Path, overrides: list[str]) -> Any:
    from hf_transfer_kit.sweep import plan_sweep

    return plan_sweep(cfg, overrides, tmp / "study")


ONE_CLASS_FOLDER = {f"photos/cats/{i}.png": _png(40 * i) for i in range(3)}
BROKEN_FILES = {f"broken{i}.png": b"not a png" for i in range(6)}

# ---- the catalogue -------------------------------------------------------------------------------------------

CATALOGUE: list[BadInput] = [
    # ---- config: unknown keys, types, ranges, overrides, files --------------------------------------------------
    BadInput("unknown-top-level-key", "config", "modle", {"modle": {"name_or_path": "bert-base-uncased"}}),
    BadInput("unknown-model-key", "config", "model.name_or_pth", {"model": {"name_or_pth": "bert-base-uncased"}}),
    BadInput("unknown-data-key", "config", "data.text_colum", {"data": {"text_colum": "body"}}),
    BadInput("unknown-training-key", "config", "training.learning_rat", overrides=("training.learning_rat=3e-4",)),
    BadInput("training-output-dir", "config", "training.output_dir", {"training": {"output_dir": "runs/x"}}),
    BadInput("section-not-a-mapping", "config", "model", {"model": "bert-base-uncased"}),
    BadInput("strategy-not-a-mapping", "config", "strategy", {"strategy": "lora"}),
    BadInput("int-field-given-text", "config", "data.max_length", overrides=("data.max_length=long",)),
    BadInput("bool-field-given-text", "config", "overwrite_output_dir", {"overwrite_output_dir": "maybe"}),
    BadInput("float-field-given-text", "config", "data.validation_size", {"data": {"validation_size": "a tenth"}}),
    BadInput("fraction-out-of-range", "config", "data.validation_size", {"data": {"validation_size": 1.5}}),
    BadInput("max-length-zero", "config", "data.max_length", {"data": {"max_length": 0}}),
    BadInput("max-train-samples-zero", "config", "data.max_train_samples", {"data": {"max_train_samples": 0}}),
    BadInput("override-without-equals", "config", "override", overrides=("training.learning_rate",),
             value="training.learning_rate"),
    BadInput("override-into-a-value", "config", "model.name_or_path.revision",
             overrides=("model.name_or_path.revision=main",), value="main"),
    BadInput("unknown-task", "config", "task", {"task": "text-clasification"}),
    BadInput("training-enum-value", "config", "training.eval_strategy", {"training": {"eval_strategy": "sometimes"}}),
    BadInput("training-int-given-text", "config", "training.per_device_train_batch_size",
             overrides=("training.per_device_train_batch_size=eight",)),
    BadInput("training-batch-size-zero", "config", "training.per_device_train_batch_size",
             {"training": {"per_device_train_batch_size": 0}}),
    BadInput("negative-learning-rate", "config", "training.learning_rate", overrides=("training.learning_rate=-3e-4",)),
    BadInput("zero-epochs", "config", "training.num_train_epochs",
             {"training": {"num_train_epochs": 0, "max_steps": -1}}),
    BadInput("bf16-not-a-bool", "config", "training.bf16", {"training": {"bf16": "maybe"}}),
    BadInput("tracker-not-installed", "config", "training.report_to", {"training": {"report_to": "wandb"}},
             hide_modules=("wandb",), note="wandb not installed"),
    BadInput("trackio-space-offline", "config", "training.trackio_space_id",
             {"training": {"report_to": "trackio", "trackio_space_id": "me/runs"}},
             hub_env={"offline": True, "token": None}, note="HF_HUB_OFFLINE=1"),
    BadInput("trackio-project-refused", "config", "training.project",
             {"training": {"report_to": "trackio", "project": "model_configs"}}),
    BadInput("output-dir-is-a-file", "config", "output_dir", files={"out": "a file, not a run"}),
    BadInput("output-dir-not-empty", "config", "output_dir", files={"out/keep.txt": "a previous run"},
             note="`<tmp>/out` already holds a previous run"),
    BadInput("config-file-missing", "config", "config", config_path="recipe.yaml", value="<tmp>/recipe.yaml",
             note="`hf-transfer-kit train <tmp>/recipe.yaml`, no such file"),
    BadInput("config-file-invalid-yaml", "config", "config", config_path="recipe.yaml", value="<tmp>/recipe.yaml",
             files={"recipe.yaml": "model:\n  name_or_path: bert: base\n"},
             note="recipe.yaml: `name_or_path: bert: base` (unquoted ': ')"),
    BadInput("config-file-not-a-mapping", "config", "config", config_path="recipe.yaml", value="<tmp>/recipe.yaml",
             files={"recipe.yaml": "- model\n- data\n"}, note="recipe.yaml is a YAML list"),
    BadInput("global-batch-size-zero", "config", "global_batch_size", {"global_batch_size": 0}),

    # ---- data -------------------------------------------------------------------------------------------------
    BadInput("missing-text-column", "data", "data.text_column", {"data": {"text_column": "body"}}),
    BadInput("missing-label-column", "data", "data.label_column", {"data": {"label_column": "topic"}}),
    BadInput("missing-text-pair-column", "data", "data.text_pair_column", {"data": {"text_pair_column": "hypothesis"}}),
    BadInput("labels-beyond-num-labels", "data", "model.num_labels", {"model": {"num_labels": 3}},
             data=("labels [0, 1, 5]", _text({"text": ["a", "b", "c"] * 2, "label": [0, 1, 5] * 2}))),
    BadInput("num-labels-disagrees-with-data", "data", "model.num_labels", {"model": {"num_labels": 2}},
             note="the toy data has 3 string classes"),
    BadInput("label-names-miss-a-class", "data", "data.label_names", {"data": {"label_names": ["sports", "tech"]}},
             note="the toy data also has 'food'"),
    BadInput("float-labels", "data", "data.label_column", value="label",
             data=("labels [0.5, 1.5, 2.0]", _text({"text": ["a b"] * 6, "label": [0.5, 1.5, 2.0] * 2}))),
    BadInput("missing-labels", "data", "data.label_column", value="label",
             data=("labels ['a', None, 'b']", _text({"text": ["a b"] * 6, "label": ["a", None, "b"] * 2}))),
    BadInput("single-class", "data", "data.label_column", value="label",
             data=("every label 'a'", _text({"text": ["a b", "c d"] * 3, "label": ["a"] * 6}))),
    BadInput("empty-data-set", "data", "data (train split)", value=0,
             data=("no rows", _text({"text": [], "label": []}))),
    BadInput("too-few-examples-to-split", "data", "data.validation_size", value=0.1,
             data=("2 examples", _text({"text": ["a b", "c d"], "label": ["a", "b"]}))),
    BadInput("text-column-not-text", "data", "data.text_column", value="text",
             data=("text [1, 2, 3, ...]", _text({"text": [1, 2, 3, 4] * 3, "label": ["a", "b"] * 6}))),
    BadInput("text-column-has-nulls", "data", "data.text_column", value="text",
             data=("text ['a b', None, ...]", _text({"text": ["a b", None, "c d"] * 2, "label": ["a", "b"] * 3}))),
    BadInput("unsupported-file-format", "data", "data.train_file", {"data": {"train_file": "<tmp>/train.txt"}},
             data=None, files={"train.txt": "text,label\na,b\n"}),
    BadInput("train-file-missing", "data", "data.train_file", {"data": {"train_file": "<tmp>/train.csv"}}, data=None),
    BadInput("train-file-not-json", "data", "data.train_file", {"data": {"train_file": "<tmp>/train.json"}},
             data=None, files={"train.json": "{not json"}, note="train.json holds `{not json`"),
    BadInput("train-file-no-rows", "data", "data.train_file", {"data": {"train_file": "<tmp>/train.csv"}},
             data=None, files={"train.csv": "text,label\n"}, note="train.csv has a header and no rows"),
    BadInput("validation-file-without-train-file", "data", "data.train_file",
             {"data": {"validation_file": "<tmp>/val.csv"}}, data=None, value=None,
             files={"val.csv": "text,label\na b,x\n"}),
    BadInput("no-data-source", "data", "data.dataset", data=None, value=None, note="no train_dataset passed"),
    BadInput("unknown-builtin-dataset", "data", "data.dataset", {"data": {"dataset": "builtin:imagenet"}}, data=None),
    BadInput("missing-split", "data", "data.train_split",
             {"data": {"dataset": "builtin:bbc_news", "train_split": "training"}}, data=None),
    BadInput("hub-dataset-offline", "data", "data.dataset", {"data": {"dataset": "glue", "dataset_config": "sst2"}},
             data=None, note="HF_DATASETS_OFFLINE=1, not cached"),

    # ---- model ------------------------------------------------------------------------------------------------
    BadInput("model-path-missing", "model", "model.name_or_path", {"model": {"name_or_path": "<tmp>/no-such-model"}}),
    BadInput("unknown-builtin-model", "model", "model.name_or_path", {"model": {"name_or_path": "builtin:bert-tiny"}}),
    BadInput("num-labels-zero", "model", "model.num_labels", {"model": {"num_labels": 0}}),
    BadInput("hub-model-offline", "model", "model.name_or_path",
             {"model": {"name_or_path": "nobody/no-such-model"}}, note="HF_HUB_OFFLINE=1, not cached"),
    BadInput("image-model-for-text-task", "model", "model.name_or_path", {"model": {"name_or_path": "<tiny-vit>"}},
             note="a ViT checkpoint: no tokenizer"),
    BadInput("empty-model-directory", "model", "model.name_or_path", {"model": {"name_or_path": "<tmp>/model"}},
             files={"model/": None}),
    BadInput("max-length-beyond-model-positions", "model", "data.max_length", {"data": {"max_length": 100000}},
             data=("300-word texts", _text({"text": [" ".join(["word"] * 300)] * 12, "label": ["a", "b", "c"] * 4})),
             note="the tiny BERT has 128 positions"),
    BadInput("class-weights-unknown-word", "model", "model.class_weights", {"model": {"class_weights": "balanced"}}),
    BadInput("class-weights-not-positive", "model", "model.class_weights",
             {"model": {"class_weights": [1.0, 0.0, 2.0]}}),
    BadInput("class-weights-wrong-length", "model", "model.class_weights", {"model": {"class_weights": [1.0, 4.0]}},
             note="the toy data has 3 classes"),

    # ---- strategy ---------------------------------------------------------------------------------------------
    BadInput("unknown-strategy", "strategy", "strategy.name", {"strategy": {"name": "lroa"}}),
    BadInput("kbit-with-full-strategy", "strategy", "model.load_in_4bit",
             {"model": {"load_in_4bit": True}, "strategy": {"name": "full"}}),
    BadInput("kbit-without-bitsandbytes", "strategy", "model.load_in_4bit",
             {"model": {"load_in_4bit": True}, "strategy": {"name": "lora"}}, hide_modules=("bitsandbytes",),
             note="bitsandbytes not installed"),
    BadInput("fast-dropout-not-boolean", "strategy", "model.fast_dropout", {"model": {"fast_dropout": "auto"}}),
    BadInput("kbit-4-and-8", "strategy", "model.load_in_8bit",
             {"model": {"load_in_4bit": True, "load_in_8bit": True}, "strategy": {"name": "lora"}}),
    BadInput("unknown-peft-method", "strategy", "strategy.method", {"strategy": {"name": "peft", "method": "lorra"}}),
    BadInput("peft-without-method", "strategy", "strategy.method", {"strategy": {"name": "peft"}}, value=None),
    BadInput("lora-with-other-method", "strategy", "strategy.method", {"strategy": {"name": "lora", "method": "ia3"}}),
    BadInput("lora-unknown-field", "strategy", "strategy.rank", {"strategy": {"name": "lora", "rank": 4}}),
    BadInput("field-of-another-method", "strategy", "strategy.r",
             {"strategy": {"name": "peft", "method": "ia3", "r": 4}}),
    BadInput("freeze-pattern-matches-nothing", "strategy", "strategy.freeze",
             {"strategy": {"name": "partial", "freeze": ["encoder.layer.99"]}}, value="encoder.layer.99"),
    BadInput("freeze-more-layers-than-exist", "strategy", "strategy.freeze_bottom_layers",
             {"strategy": {"name": "partial", "freeze_bottom_layers": 5}}),
    BadInput("freeze-negative-layers", "strategy", "strategy.freeze_bottom_layers",
             {"strategy": {"name": "partial", "freeze_bottom_layers": -1}}),
    BadInput("lora-freeze-more-layers-than-exist", "strategy", "strategy.freeze_bottom_layers",
             {"strategy": {"name": "lora", "freeze_bottom_layers": 5}}),
    BadInput("ia3-freeze-negative-layers", "strategy", "strategy.freeze_bottom_layers",
             {"strategy": {"name": "peft", "method": "ia3", "freeze_bottom_layers": -2}}),
    BadInput("unknown-attention-implementation", "model", "model.attn_implementation",
             {"model": {"attn_implementation": "flash"}}),
    BadInput("unknown-train-only-preset", "strategy", "strategy.train_only",
             {"strategy": {"name": "partial", "train_only": "everything"}}),
    BadInput("lora-targets-absent", "strategy", "strategy.target_modules",
             {"strategy": {"name": "lora", "target_modules": ["q_proj", "v_proj"]}}),
    BadInput("lora-targets-empty", "strategy", "strategy.target_modules",
             {"strategy": {"name": "lora", "target_modules": []}}),
    BadInput("lora-targets-not-names", "strategy", "strategy.target_modules",
             {"strategy": {"name": "lora", "target_modules": 5}}),
    BadInput("lora-rank-zero", "strategy", "strategy.r", {"strategy": {"name": "lora", "r": 0}}),
    BadInput("lora-dropout-above-one", "strategy", "strategy.lora_dropout",
             {"strategy": {"name": "lora", "lora_dropout": 1.5}}),
    BadInput("loha-rank-zero", "strategy", "strategy.r", {"strategy": {"name": "peft", "method": "loha", "r": 0}}),
    BadInput("lora-layers-pattern-alone", "strategy", "strategy.layers_pattern",
             {"strategy": {"name": "lora", "layers_pattern": "layer"}}),
    BadInput("adapter-unknown-placement", "strategy", "strategy.placement",
             {"strategy": {"name": "adapter", "placement": "sideways"}}),
    BadInput("adapter-reduction-factor-zero", "strategy", "strategy.reduction_factor",
             {"strategy": {"name": "adapter", "reduction_factor": 0}}),
    BadInput("adapter-reduction-factor-not-dividing", "strategy", "strategy.reduction_factor",
             {"strategy": {"name": "adapter", "reduction_factor": 7}}, note="hidden size 32"),
    BadInput("adapter-size-and-factor", "strategy", "strategy.bottleneck_size",
             {"strategy": {"name": "adapter", "bottleneck_size": 4, "reduction_factor": 8}}),
    BadInput("layer-lr-decay-above-one", "strategy", "strategy.layer_lr_decay",
             {"strategy": {"name": "full", "layer_lr_decay": 1.5}}),
    BadInput("unfreeze-unknown-mode", "strategy", "strategy.unfreeze",
             {"strategy": {"name": "partial", "unfreeze": "layer"}}),
    BadInput("unfreeze-every-zero", "strategy", "strategy.unfreeze_every",
             {"strategy": {"name": "full", "unfreeze": "step", "unfreeze_every": 0}}),
    BadInput("unfreeze-every-without-unfreeze", "strategy", "strategy.unfreeze_every",
             {"strategy": {"name": "full", "unfreeze_every": 5}}),
    BadInput("unfreeze-on-linear-probe", "strategy", "strategy.unfreeze",
             {"strategy": {"name": "linear_probe", "unfreeze": "epoch"}}),
    BadInput("unfreeze-with-only-the-head-trainable", "strategy", "strategy.unfreeze",
             {"strategy": {"name": "partial", "freeze": ["bert"], "unfreeze": "step"}}),

    # ---- distributed / precision (hf_transfer_kit/launch.py) --------------------------------------------------
    BadInput("fp16-on-cpu", "distributed", "training.fp16", {"training": {"fp16": True}}, skip_if=_no_cuda),
    BadInput("deepspeed-missing", "distributed", "training.deepspeed", {"training": {"deepspeed": "ds_zero2.json"}},
             hide_modules=("deepspeed",), note="DeepSpeed not installed"),
    BadInput("global-batch-not-divisible", "distributed", "global_batch_size", {"global_batch_size": 12},
             note="per_device_train_batch_size 8, 1 process"),
    BadInput("fsdp-v1-with-partial", "distributed", "strategy.name",
             {"strategy": {"name": "partial", "freeze_embeddings": True},
              "training": {"fsdp": "full_shard", "fsdp_config": {"version": 1}}}),
    BadInput("fsdp-on-cpu", "distributed", "training.fsdp", {"training": {"fsdp": "full_shard"}},
             skip_if=_no_cuda, note="no GPU"),
    BadInput("unfreeze-with-deepspeed", "distributed", "strategy.unfreeze",
             {"strategy": {"name": "full", "unfreeze": "step"}, "training": {"deepspeed": "<tmp>/ds_zero2.json"}},
             files={"ds_zero2.json": '{"zero_optimization": {"stage": 2}, "train_micro_batch_size_per_gpu": "auto", '
                                     '"gradient_accumulation_steps": "auto"}'},
             note="layer_lr_decay alone runs under ZeRO"),
    BadInput("layer-lr-decay-with-fsdp", "distributed", "strategy.layer_lr_decay",
             {"strategy": {"name": "full", "layer_lr_decay": 0.8},
              "training": {"fsdp": "full_shard", "fsdp_config": {"version": 1}}},
             skip_if=_cpu_only),
    BadInput("load-best-without-checkpoints", "distributed", "training.load_best_model_at_end",
             {"training": {"load_best_model_at_end": True, "eval_strategy": "epoch", "save_strategy": "no"}}),

    # ---- Hub ----------------------------------------------------------------------------------------------------
    BadInput("push-without-repo-id", "hub", "hub.repo_id", {"hub": {"push_to_hub": True}}, value=None),
    BadInput("push-invalid-repo-id", "hub", "hub.repo_id", {"hub": {"push_to_hub": True, "repo_id": "me/my model"}}),
    BadInput("push-without-token", "hub", "HF_TOKEN", {"hub": {"push_to_hub": True, "repo_id": "me/tiny"}},
             hub_env={"offline": False, "token": None}, value="<unset>",
             note="HF_TOKEN unset, not logged in"),
    BadInput("push-while-offline", "hub", "HF_HUB_OFFLINE", {"hub": {"push_to_hub": True, "repo_id": "me/tiny"}},
             hub_env={"offline": True, "token": SENTINEL_TOKEN}, value="1", secret=SENTINEL_TOKEN,
             note="HF_HUB_OFFLINE=1, HF_TOKEN set"),
    BadInput("token-in-hub-section", "hub", "hub.token", overrides=(f"hub.token={SENTINEL_TOKEN}",),
             value="<redacted>", secret=SENTINEL_TOKEN),
    BadInput("token-in-training-section", "hub", "training.hub_token", {"training": {"hub_token": SENTINEL_TOKEN}},
             value="<redacted>", secret=SENTINEL_TOKEN),
    BadInput("trainer-push-to-hub", "hub", "training.push_to_hub", {"training": {"push_to_hub": True}}),

    # ---- vision (task: image-classification) ------------------------------------------------------------------
    BadInput("vit-at-another-image-size", "vision", "data.image_size",
             {"task": "image-classification", "data": {"image_size": 48}}, note="the tiny ViT takes 32 px"),
    BadInput("image-folder-missing", "vision", "data.image_folder",
             {"task": "image-classification", "data": {"image_folder": "<tmp>/photos"}}, data=None),
    BadInput("image-folder-one-class", "vision", "data.image_folder",
             {"task": "image-classification", "data": {"image_folder": "<tmp>/photos"}}, data=None,
             files=ONE_CLASS_FOLDER, note="photos/cats/*.png only"),
    BadInput("image-column-missing", "vision", "data.image_column",
             {"task": "image-classification", "data": {"image_column": "img"}}),
    BadInput("flattened-image-arrays", "vision", "data.image_column", {"task": "image-classification"},
             value="array of shape (784,)", data=("784-vectors", _flat_images)),
    BadInput("image-files-missing", "vision", "data.image_column", {"task": "image-classification"}, value="image",
             data=("paths <tmp>/nope/0.png ...", _image_paths(["<tmp>/nope/0.png"] * 6))),
    BadInput("no-readable-image", "vision", "data.image_column", {"task": "image-classification"}, value="image",
             files=BROKEN_FILES, data=("paths to 6 files holding `not a png`",
                                       _image_paths([f"<tmp>/broken{i}.png" for i in range(6)]))),
    BadInput("image-remove-unused-columns", "vision", "training.remove_unused_columns",
             {"task": "image-classification", "training": {"remove_unused_columns": True}}),
    BadInput("text-model-for-image-task", "vision", "model.name_or_path",
             {"task": "image-classification", "model": {"name_or_path": "<tiny-bert>"}}),
    BadInput("crop-scale-reversed", "vision", "data.crop_scale",
             {"task": "image-classification", "data": {"crop_scale": [0.9, 0.5]}}),
    BadInput("color-jitter-above-one", "vision", "data.color_jitter",
             {"task": "image-classification", "data": {"color_jitter": 1.5}}),
    BadInput("adapter-on-a-cnn", "vision", "strategy.target_modules",
             {"task": "image-classification", "model": {"name_or_path": "<tiny-cnn>"}, "strategy": {"name": "adapter"}},
             value=None),
    # ---- masked-LM pretraining (task: fill-mask) -------------------------------------------------------------
    BadInput("mlm-probability-zero", "pretrain", "data.mlm_probability",
             {"task": "fill-mask", "data": {"mlm_probability": 0.0}}),
    BadInput("mlm-probability-above-one", "pretrain", "data.mlm_probability",
             {"task": "fill-mask", "data": {"mlm_probability": 1.5}}),
    BadInput("unknown-text-sample-by", "pretrain", "data.text_sample_by",
             {"task": "fill-mask", "data": {"text_sample_by": "sentence"}}),
    BadInput("pretrain-text-column-missing", "pretrain", "data.text_column",
             {"task": "fill-mask", "data": {"text_column": "body"}}),
    BadInput("pretrain-max-length-beyond-positions", "pretrain", "data.max_length",
             {"task": "fill-mask", "data": {"max_length": 512}}, note="the tiny BERT has 128 positions"),
    # ---- multi-label and regression heads (model.problem_type) ------------------------------------------------
    BadInput("unknown-problem-type", "problem", "model.problem_type", {"model": {"problem_type": "multilabel"}}),
    BadInput("threshold-out-of-range", "problem", "model.threshold",
             {"model": {"problem_type": "multi_label", "threshold": 1.5}}),
    BadInput("unknown-threshold-tuning", "problem", "model.tune_threshold",
             {"model": {"problem_type": "multi_label", "tune_threshold": "best"}}),
    BadInput("list-labels-without-multi-label", "problem", "data.label_column", value="label",
             data=("labels [['x'], ['x', 'y'], ...]", _text({"text": ["a b"] * 6, "label": [["x"], ["x", "y"]] * 3}))),
    BadInput("multi-label-labels-not-lists", "problem", "data.label_column", {"model": {"problem_type": "multi_label"}},
             value="label", data=("labels ['sport', 'tech', ...]",
                                  _text({"text": ["a b"] * 6, "label": ["sport", "tech"] * 3}))),
    BadInput("multi-label-unknown-label", "problem", "data.label_names",
             {"model": {"problem_type": "multi_label"}, "data": {"label_names": ["x", "y"]}},
             data=("labels [['x'], ['y', 'z'], ...]", _text({"text": ["a b"] * 6, "label": [["x"], ["y", "z"]] * 3}))),
    BadInput("multi-label-column-not-zero-one", "problem", "data.label_columns",
             {"model": {"problem_type": "multi_label"}, "data": {"label_columns": ["x", "y"]}}, value="y",
             data=("columns x [0, 1, ...], y [1, 2, ...]", _text({"text": ["a b"] * 6, "x": [0, 1] * 3, "y": [1, 2] * 3}))),
    BadInput("multi-label-column-missing", "problem", "data.label_columns",
             {"model": {"problem_type": "multi_label"}, "data": {"label_columns": ["x", "nope"]}}, value="nope",
             data=("columns text, x", _text({"text": ["a b"] * 6, "x": [0, 1] * 3}))),
    BadInput("regression-target-not-a-number", "problem", "data.label_column",
             {"model": {"problem_type": "regression"}}, value="label",
             data=("labels ['1.5', 'high', ...]", _text({"text": ["a b"] * 6, "label": ["1.5", "high"] * 3}))),
    BadInput("regression-target-nan", "problem", "data.label_column", {"model": {"problem_type": "regression"}},
             value="label", data=("labels [1.0, 2.0, nan, ...]",
                                  _text({"text": ["a b"] * 6, "label": [1.0, 2.0, float("nan")] * 2}))),
    BadInput("regression-targets-all-equal", "problem", "data.label_column", {"model": {"problem_type": "regression"}},
             value="label", data=("every label 3.0", _text({"text": ["a b", "c d"] * 6, "label": [3.0] * 12}))),
    BadInput("regression-num-labels-not-one", "problem", "model.num_labels",
             {"model": {"problem_type": "regression", "num_labels": 3}}),
    BadInput("class-weights-with-multi-label", "problem", "model.class_weights",
             {"model": {"problem_type": "multi_label", "class_weights": [1.0, 2.0]}}),
    # ---- comparing strategies (hf_transfer_kit/compare.py, strategy_runs.py) --------------------------------
    BadInput("compare-no-strategies", "compare", "--strategies", value=[], command="hf-transfer-kit compare CONFIG",
             call=lambda cfg, tmp: _compare(cfg, tmp, [])),
    BadInput("compare-unknown-strategy", "compare", "strategy.name", value="lorra",
             command="hf-transfer-kit compare CONFIG --strategies full lorra",
             call=lambda cfg, tmp: _compare(cfg, tmp, ["full", "lorra"])),
    BadInput("compare-setting-without-value", "compare", "--strategies", value="lora:r",
             command="hf-transfer-kit compare CONFIG --strategies lora:r",
             call=lambda cfg, tmp: _compare(cfg, tmp, ["lora:r"])),
    BadInput("compare-one-arm", "compare", "--strategies", value=["full"],
             command="hf-transfer-kit compare CONFIG --strategies full --no-scratch",
             call=lambda cfg, tmp: _compare(cfg, tmp, ["full"], scratch=False)),
    BadInput("compare-negative-tolerance", "compare", "--tolerance", value=-1.0,
             command="hf-transfer-kit compare CONFIG --strategies full lora --tolerance -1",
             call=lambda cfg, tmp: _compare(cfg, tmp, ["full", "lora"], tolerance=-1.0)),
    # ---- sweeps (hf_transfer_kit/sweep.py): checked before any trial trains ------------------------------------
    BadInput("sweep-loguniform-from-zero", "compare", "training.learning_rate", value="loguniform(0,1e-2)",
             command="hf-transfer-kit sweep CONFIG training.learning_rate=loguniform(0,1e-2)",
             call=lambda cfg, tmp: _sweep(cfg, tmp, ["training.learning_rate=loguniform(0,1e-2)"])),
    BadInput("sweep-over-the-seed", "compare", "training.seed", value="choice(1,2,3)",
             command="hf-transfer-kit sweep CONFIG training.seed=choice(1,2,3)",
             call=lambda cfg, tmp: _sweep(cfg, tmp, ["training.seed=choice(1,2,3)"])),
    BadInput("sweep-nothing-to-search", "compare", "overrides", value=["training.learning_rate=1e-3"],
             command="hf-transfer-kit sweep CONFIG training.learning_rate=1e-3",
             call=lambda cfg, tmp: _sweep(cfg, tmp, ["training.learning_rate=1e-3"])),
    BadInput("compare-not-a-classifier", "compare", "task", {"task": "fill-mask"},
             command="hf-transfer-kit compare CONFIG --strategies full lora",
             call=lambda cfg, tmp: _compare(cfg, tmp, ["full", "lora"])),
    # ---- knowledge distillation (task: distill) -------------------------------------------------------------
    BadInput("distill-without-teacher", "distill", "distill.teacher", {"task": "distill"}, value=None),
    BadInput("distill-teacher-missing", "distill", "distill.teacher",
             {"task": "distill", "distill": {"teacher": "<tmp>/teacher"}}),
    BadInput("distill-teacher-other-labels", "distill", "distill.teacher",
             {"task": "distill", "distill": {"teacher": "<tiny-bert>"}},
             note="the tiny BERT's config has LABEL_0, LABEL_1; the data food, sports, tech"),
    BadInput("distill-teacher-on-classification-task", "distill", "task", {"distill": {"teacher": "<tiny-bert>"}},
             value="text-classification"),
    BadInput("distill-temperature-zero", "distill", "distill.temperature",
             {"task": "distill", "distill": {"teacher": "<tiny-bert>", "temperature": 0.0}}),
    BadInput("distill-alpha-above-one", "distill", "distill.alpha",
             {"task": "distill", "distill": {"teacher": "<tiny-bert>", "alpha": 1.5}}),
    BadInput("distill-negative-hidden-weight", "distill", "distill.hidden_state_weight",
             {"task": "distill", "distill": {"teacher": "<tiny-bert>", "hidden_state_weight": -1.0}}),
    BadInput("distill-repeated-layers", "distill", "distill.layers",
             {"task": "distill", "distill": {"teacher": "<tiny-bert>", "layers": [0, 0]}}),
    BadInput("distill-layers-beyond-depth", "distill", "distill.layers",
             {"task": "distill", "distill": {"teacher": "<tiny-bert>", "layers": [0, 4]}},
             note="the tiny BERT has 2 layers"),
    BadInput("distill-layers-with-adapters", "distill", "strategy.name",
             {"task": "distill", "distill": {"teacher": "<tiny-bert>", "layers": [0]}, "strategy": {"name": "lora"}}),

    # ---- own data, own files (each a class of problem; tests/test_hostile_data.py has their cousins) -------------
    BadInput("overwrite-a-folder-that-is-not-a-run", "files", "output_dir", {"overwrite_output_dir": True},
             files={"out/train.csv": "text,label\na,b\n"}, value="<tmp>/out",
             note="`<tmp>/out` holds the user's train.csv, no run"),
    BadInput("input-file-inside-the-replaced-run", "files", "data.train_file",
             {"overwrite_output_dir": True, "data": {"train_file": "<tmp>/out/train.csv"}}, data=None,
             files={"out/.hf_transfer_kit": "", "out/train.csv": "text,label\nfootball match,sports\npasta dinner,food\nnew computer,tech\n" * 4},
             note="`<tmp>/out` is an earlier run; the training file lies inside it"),
    BadInput("label-only-in-the-test-file", "files", "data.label_column", value="label",
             config={"data": {"train_file": "<tmp>/train.csv", "test_file": "<tmp>/test.csv"}}, data=None,
             files={"train.csv": "text,label\nfootball match,sports\npasta dinner,food\nnew computer,tech\n" * 4, "test.csv": "text,label\nrain again,weather\npasta,food\n"},
             note="test.csv has the class 'weather', train.csv does not"),
    BadInput("max-length-beyond-real-minilm", "files", "data.max_length",
             {"model": {"name_or_path": "builtin:all-MiniLM-L6-v2"}, "data": {"max_length": 1024}},
             note="the real shipped MiniLM-L6: 512 positions"),
    BadInput("checkpoint-without-weights", "files", "model.name_or_path", {"model": {"name_or_path": "<tmp>/ckpt"}},
             files={"ckpt/config.json": '{"model_type": "bert"}'}),
    BadInput("config-file-empty", "files", "config", config_path="recipe.yaml", value="<tmp>/recipe.yaml",
             files={"recipe.yaml": ""}, note="recipe.yaml is empty"),
    BadInput("config-key-given-twice", "files", "config", config_path="recipe.yaml", value="<tmp>/recipe.yaml",
             files={"recipe.yaml": "strategy:\n  name: lora\nstrategy:\n  name: full\n"},
             note="two `strategy:` blocks"),
    BadInput("config-is-a-directory", "files", "config", config_path="recipes/", value="<tmp>/recipes",
             files={"recipes/": None}),
    BadInput("zero-max-steps", "files", "training.max_steps", {"training": {"max_steps": 0}}),
    BadInput("csv-with-semicolons", "files", "data.csv_delimiter", {"data": {"train_file": "<tmp>/train.csv"}},
             data=None, value=",", files={"train.csv": "text;label\nfootball;sports\npasta;food\n"}),
    BadInput("csv-delimiter-too-long", "files", "data.csv_delimiter", {"data": {"csv_delimiter": ";;"}}),
    BadInput("csv-column-named-twice", "files", "data.train_file", {"data": {"train_file": "<tmp>/train.csv"}},
             data=None, files={"train.csv": "text,text,label\na,b,c\n"}),
    BadInput("csv-not-utf8", "files", "data.train_file", {"data": {"train_file": "<tmp>/train.csv"}}, data=None,
             files={"train.csv": "text,label\ncaf\u00e9,food\n".encode("latin-1")}, note="train.csv in Latin-1"),
    BadInput("jsonl-broken-line", "files", "data.train_file", {"data": {"train_file": "<tmp>/train.jsonl"}},
             data=None, files={"train.jsonl": '{"text": "a", "label": "x"}\n{"text": "b", "label":\n'},
             note="line 2 of train.jsonl is cut off"),
]
AREAS = {"config": "Config: keys, types, ranges, overrides, files", "data": "Data",
         "files": "Own data, own files: sources, outputs, encodings, delimiters", "model": "Model",
         "strategy": "Strategy", "distributed": "Distributed and precision", "hub": "Hub",
         "vision": "Vision (task: image-classification)", "pretrain": "Masked-LM pretraining (task: fill-mask)",
         "compare": "Comparing strategies and sweeps (`hf-transfer-kit compare`, `hf-transfer-kit sweep`)", "distill": "Distillation (task: distill)",
         "problem": "Multi-label and regression heads (model.problem_type)"}

# ---- token classification and question answering (issue 10, items 1-2) ------------------------------------------
_NER = {"tokens": [["Ann", "met", "Bob"], ["in", "Paris"]] * 4, "ner_tags": [["B-PER", "O", "B-PER"], ["O", "B-LOC"]] * 4}
_QA_CONTEXT = "The meeting was held in Rome on Monday ."
_QA = {"question": ["Where was the meeting?"] * 8, "context": [_QA_CONTEXT] * 8,
       "answers": [{"text": ["Rome"], "answer_start": [24]}] * 8}
_TC = {"task": "token-classification"}
_QA_TASK = {"task": "question-answering", "data": {"doc_stride": 8}}
CATALOGUE += [
    BadInput("tags-misaligned-with-words", "tasks", "data.tags_column", _TC, value="ner_tags",
             data=("row 1: 2 words, 3 tags", _text({"tokens": [["Ann", "met"], ["in", "Paris"]] * 4,
                                                    "ner_tags": [["B-PER", "O"], ["O", "B-LOC", "O"]] * 4}))),
    BadInput("tags-column-missing", "tasks", "data.tags_column", {**_TC, "data": {"tags_column": "labels"}},
             data=("columns tokens, ner_tags", _text(_NER))),
    BadInput("words-not-split", "tasks", "data.words_column", _TC, value="tokens",
             data=("tokens 'Ann met Bob' (a string)", _text({"tokens": ["Ann met Bob"] * 8,
                                                             "ner_tags": [["B-PER", "O", "B-PER"]] * 8}))),
    BadInput("int-tags-without-names", "tasks", "data.label_names", _TC, value=None,
             data=("ner_tags [[1, 0, 1], ...]", _text({"tokens": [["Ann", "met", "Bob"]] * 8, "ner_tags": [[1, 0, 1]] * 8}))),
    BadInput("unknown-label-alignment", "tasks", "data.label_alignment", {**_TC, "data": {"label_alignment": "last"}}),
    BadInput("answer-not-in-context", "tasks", "data.answers_column", _QA_TASK, value="answers",
             data=("answer 'Milan' at 24 in 'The meeting was held in Rome ...'",
                   _text({**_QA, "answers": [{"text": ["Milan"], "answer_start": [24]}] * 8}))),
    BadInput("answer-start-off-by-one", "tasks", "data.answers_column", _QA_TASK, value="answers",
             data=("answer 'Rome' at 25 (it is at 24)", _text({**_QA, "answers": [{"text": ["Rome"], "answer_start": [25]}] * 8}))),
    BadInput("unanswerable-question", "tasks", "data.answers_column", _QA_TASK, value="answers",
             data=("answers {'text': [], 'answer_start': []}",
                   _text({**_QA, "answers": [{"text": [], "answer_start": []}] * 8}))),
    BadInput("context-column-missing", "tasks", "data.context_column",
             {"task": "question-answering", "data": {"doc_stride": 8, "context_column": "passage"}},
             data=("columns question, context, answers", _text(_QA))),
    BadInput("doc-stride-not-below-max-length", "tasks", "data.doc_stride", {"task": "question-answering"},
             value=128, data=("SQuAD-style rows", _text(_QA)), note="data.max_length 32, doc_stride default 128"),
    BadInput("question-fills-the-window", "tasks", "data.max_length", _QA_TASK, value=32,
             data=("a 40-word question", _text({**_QA, "question": ["where " * 40] * 8}))),
]
AREAS["tasks"] = "Token classification and question answering (task: token-classification, question-answering)"

# ---- causal LM and seq2seq fine-tuning (issue 10, item 4) -------------------------------------------------------
_LM = {"task": "causal-lm"}
_PAIRS = {"prompt": ["topic of: the football match"] * 8, "response": ["sports"] * 8}
CATALOGUE += [
    BadInput("prompt-column-missing", "generation", "data.prompt_column", _LM, value="prompt",
             data=("columns question, response", _text({"question": ["a b"] * 8, "response": ["c"] * 8}))),
    BadInput("empty-response", "generation", "data.response_column", _LM, value="response",
             data=("responses ['sports', ' ', ...]", _text({**_PAIRS, "response": ["sports", " "] * 4}))),
    BadInput("prompt-fills-max-length", "generation", "data.max_length", _LM, value=32,
             data=("a 40-word prompt", _text({**_PAIRS, "prompt": ["football " * 40] * 8}))),
    BadInput("prompt-template-without-placeholder", "generation", "data.prompt_template",
             {**_LM, "data": {"prompt_template": "Question: Answer:"}}),
    BadInput("max-new-tokens-zero", "generation", "data.max_new_tokens", {**_LM, "data": {"max_new_tokens": 0}}),
    BadInput("target-column-missing", "generation", "data.target_column", {"task": "seq2seq"}, value="target",
             data=("columns source, summary", _text({"source": ["a b"] * 8, "summary": ["c"] * 8}))),
    BadInput("packing-with-seq2seq", "generation", "data.packing", {"task": "seq2seq", "data": {"packing": True}},
             data=("columns source, target", _text({"source": ["a b"] * 8, "target": ["c"] * 8}))),
    BadInput("seq2seq-on-an-encoder", "generation", "model.name_or_path", {"task": "seq2seq"},
             data=("columns source, target", _text({"source": ["a b"] * 8, "target": ["c"] * 8})),
             note="the tiny BERT has no decoder"),
]
AREAS["generation"] = "Causal LM and seq2seq (task: text-generation, text2text-generation)"


# ---- running an entry ------------------------------------------------------------------------------------------

def base_config(task: Optional[str]) -> dict[str, Any]:
    """The working config every entry patches (tests/conftest.py's tiny_config / test_vision's vision_config)."""
    training = {"num_train_epochs": 1, "max_steps": 3, "per_device_train_batch_size": 8, "learning_rate": 1e-3,
                "logging_steps": 1, "eval_strategy": "no", "save_strategy": "no", "bf16": False, "disable_tqdm": True}
    if task == "image-classification":
        return {"task": task, "output_dir": "<tmp>/out", "baselines": False, "model": {"name_or_path": "<tiny-vit>"},
                "data": {"dataset": None}, "strategy": {"name": "full"}, "training": training}
    return {"output_dir": "<tmp>/out", "model": {"name_or_path": "<tiny-bert>"},
            "data": {"dataset": None, "max_length": 32}, "strategy": {"name": "full"}, "training": training}


def merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        out[key] = merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
    return out


def substitute(value: Any, places: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for placeholder, real in places.items():
            value = value.replace(placeholder, real)
        return value
    if isinstance(value, Mapping):
        return {k: substitute(v, places) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(substitute(v, places) for v in value)
    return value


def lookup(raw: Mapping[str, Any], param: str) -> Any:
    node: Any = raw
    for part in param.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def normalise(message: str, places: Mapping[str, str]) -> str:
    """Real scratch / model paths back to their placeholders, whitespace collapsed: a stable doc line."""
    for placeholder, real in sorted(places.items(), key=lambda kv: -len(kv[1])):
        message = message.replace(real, placeholder)
    return " ".join(message.split())


def snapshot(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_size if p.is_file() else -1 for p in directory.rglob("*")}


def trigger(entry: BadInput, places: Mapping[str, str], tmp: Path) -> None:
    """Read the config and run it exactly as a user would (``hf_transfer_kit.train(cfg, ...)``, what the CLI runs)."""
    from hf_transfer_kit.config import apply_overrides, config_from_dict, load_config
    from hf_transfer_kit.workflow import train

    if entry.config_path is not None:
        load_config(tmp / entry.config_path, substitute(entry.overrides, places))
        return
    raw = substitute(merge(base_config(entry.config.get("task")), entry.config), places)
    cfg = config_from_dict(apply_overrides(raw, substitute(entry.overrides, places)))
    if entry.call is not None:
        entry.call(cfg, tmp)
        return
    kwargs = {}
    if entry.data == "default":
        kwargs["train_dataset"] = default_data(cfg.task)
    elif entry.data is not None:
        kwargs["train_dataset"] = entry.data[1](tmp)
    train(cfg, **kwargs)


def default_data(task: str) -> Any:
    if task == "image-classification":
        from test_vision import toy_dataset as image_toy_dataset

        return image_toy_dataset(12)
    from conftest import toy_dataset

    return toy_dataset(24)


# ---- the doc ---------------------------------------------------------------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()


def describe_input(entry: BadInput) -> str:
    """The input as a user writes it: YAML patch, overrides, data, files, environment."""
    parts = []
    # the vision section's title says task: image-classification; any other task value is part of the input
    config = {k: v for k, v in entry.config.items() if not (k == "task" and v == "image-classification")}
    if entry.config_path is not None:
        parts.append(f"`hf-transfer-kit train <tmp>/{entry.config_path}`")
    if entry.command:
        parts.append(f"`{entry.command}`")
    if config:
        parts.append(f"`{_flow(config)}`")
    if entry.overrides:
        parts.append("override " + " ".join(f"`{o}`" for o in entry.overrides))
    if entry.data not in ("default", None):
        parts.append(f"train_dataset: {entry.data[0]}")
    if entry.note:
        parts.append(f"({entry.note})")
    return _cell("; ".join(parts) or "(base config)")


def row(entry: BadInput, message: str) -> str:
    cells = [f"`{entry.id}`", describe_input(entry), f"`{entry.param}`", _cell(message)]
    if entry.gap:
        cells.append(_cell(entry.gap))
    return "| " + " | ".join(cells) + " |"


def render(messages: Mapping[str, str]) -> str:
    """docs/bad_inputs.md from the catalogue and the observed messages (``python tests/test_bad_inputs.py --write``)."""
    listed = [e for e in CATALOGUE if not e.gap]
    gaps = [e for e in CATALOGUE if e.gap]
    lines = [
        "# Bad-input catalogue",
        "",
        f"{len(listed)} bad inputs and the exact error the kit gives for each, plus {len(gaps)} known gaps. "
        "Generated by `python tests/test_bad_inputs.py --write` from the entries in `tests/test_bad_inputs.py`, by running each "
        "one; that test fails when a message below differs from the kit's, so this page cannot drift.",
        "",
        "Every entry in the catalogue is checked to raise `hf_transfer_kit.errors.ConfigError` **before training** "
        "(`Trainer.train` is never called), to **write nothing** (no output directory, no `.out.partial` staging "
        "directory), and to read `param=value: fix`: `err.param` is the setting in the *parameter* column, the value "
        "is the one given (`<redacted>` for secrets), and the fix says what to do.",
        "",
        "Each input is applied to a small working config (text: a tiny random BERT on in-memory toy data with three "
        "string classes; vision: a tiny random ViT taking 32 px images, three classes). Placeholders: `<tmp>` is the "
        "run's scratch directory (`output_dir: <tmp>/out`), `<tiny-bert>` / `<tiny-vit>` / `<tiny-cnn>` the tiny "
        "checkpoints (the CNN is an EfficientNet-Lite). Overrides are the dotted `key=value` arguments of "
        "`hf-transfer-kit train CONFIG ...`.",
        "",
    ]
    for area, title in AREAS.items():
        entries = [e for e in listed if e.area == area]
        lines += [f"## {title} ({len(entries)})", "", "| id | input | parameter | error message |", "|---|---|---|---|"]
        lines += [row(e, messages[e.id]) for e in entries]
        lines.append("")
    lines += [
        f"## Known gaps ({len(gaps)})",
        "",
        "Inputs that still get an unclear error today (a raw exception, or no specific parameter), in code owned "
        "elsewhere. Each runs as a strict xfail: when the fix lands the test fails until the entry joins the "
        "catalogue above.",
        "",
        "| id | input | parameter it should name | error today | where the fix belongs |",
        "|---|---|---|---|---|",
    ]
    lines += [row(e, messages[e.id]) for e in gaps]
    lines.append("")
    return "\n".join(lines)


# ---- the test --------------------------------------------------------------------------------------------------

@pytest.fixture
def places(tmp_path: Path, tiny_model_dir: str, request: pytest.FixtureRequest) -> dict[str, str]:
    out = {"<tmp>": str(tmp_path), "<tiny-bert>": tiny_model_dir}
    entry_config = json.dumps(request.node.callspec.params["entry"].config)
    if re.search(r"image-classification|<tiny-vit>|<tiny-cnn>", entry_config):
        models = request.getfixturevalue("vision_models")
        out.update({"<tiny-vit>": models["vit"], "<tiny-cnn>": models["efficientnet_lite"]})
    return out


@pytest.fixture(scope="session")
def vision_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from test_vision import tiny_vision_models

    return tiny_vision_models(tmp_path_factory.mktemp("tiny-vision"))


@pytest.fixture
def hub_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Callable[[Mapping], None]:
    """Point huggingface_hub at no saved token and the given offline mode. Its constants are read when it is first
    imported (conftest imports it with HF_HUB_OFFLINE=1), so they are patched, as tests/test_hub.py does."""
    def apply(env: Mapping[str, Any]) -> None:
        from huggingface_hub import constants

        home = tmp_path_factory.mktemp("no-hf-login")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", env["offline"])
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
        monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
        for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
            monkeypatch.delenv(var, raising=False)
        if env.get("token"):
            monkeypatch.setenv("HF_TOKEN", env["token"])
    return apply


def write_files(entry: BadInput, tmp_path: Path) -> None:
    """The entry's files under <tmp> (str or bytes; a name ending in "/" is a directory)."""
    for name, content in entry.files.items():
        path = tmp_path / name
        if name.endswith("/"):
            path.mkdir(parents=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)


def hide_modules(entry: BadInput, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the entry's packages look uninstalled (``importlib.util.find_spec`` answers None)."""
    if entry.hide_modules:
        import importlib.util

        real_find_spec = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None if name in entry.hide_modules
                            else real_find_spec(name, *a, **k))


def _params() -> Iterator[Any]:
    for entry in CATALOGUE:
        marks = [pytest.mark.xfail(strict=True, raises=KnownGap, reason=entry.gap)] if entry.gap else []
        yield pytest.param(entry, id=entry.id, marks=marks)


@pytest.mark.parametrize("entry", list(_params()))
def test_bad_input_fails_early_with_param_value_and_fix(entry: BadInput, tmp_path: Path, places: dict[str, str],
                                                        hub_env: Callable[[Mapping], None],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    from hf_transfer_kit.errors import ConfigError

    if entry.skip_if is not None and (reason := entry.skip_if()):
        pytest.skip(reason)
    write_files(entry, tmp_path)
    if entry.hub_env is not None:
        hub_env(entry.hub_env)
    hide_modules(entry, monkeypatch)
    before = snapshot(tmp_path)
    train_calls: list[int] = []
    real_train = transformers.Trainer.train

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        train_calls.append(1)
        return real_train(self, *args, **kwargs)

    monkeypatch.setattr(transformers.Trainer, "train", spy)

    with pytest.raises(Exception) as info:
        trigger(entry, places, tmp_path)
    err = info.value
    shown = str(err) if isinstance(err, ConfigError) else f"{type(err).__name__}: {err}"
    message = normalise(shown, places)
    check_doc(entry, message)

    problems = contract_problems(entry, err, places, tmp_path)
    problems += ["Trainer.train was called"] if train_calls else []
    problems += [f"wrote {sorted(set(snapshot(tmp_path)) - set(before))}"] if snapshot(tmp_path) != before else []
    if entry.gap and problems:
        raise KnownGap(f"{entry.id}: {'; '.join(problems)}")
    assert not problems, f"{entry.id}: {'; '.join(problems)}\n{shown}"


def contract_problems(entry: BadInput, err: BaseException, places: Mapping[str, str], tmp: Path) -> list[str]:
    """What is wrong with the error ``entry`` got (empty when it meets the contract)."""
    from hf_transfer_kit.errors import ConfigError

    if not isinstance(err, ConfigError):
        return [f"raised {type(err).__name__}, not ConfigError"]
    problems = []
    message = str(err)
    if err.param != entry.param:
        problems.append(f"param is {err.param!r}, expected {entry.param!r}")
    expected = expected_value(entry, places)
    assert expected is not MISSING, f"{entry.id}: give the entry a value= (its param is not in its config)"
    if not message.startswith(f"{entry.param}={expected!r}: "):
        problems.append(f"message does not start with {entry.param}={expected!r}: ")
    if entry.secret and entry.secret in message + repr(err.value):
        problems.append("the secret appears in the message")
    if len(err.fix.split()) < 4 or not FIX_WORDS.search(err.fix):
        problems.append(f"the fix {err.fix!r} does not say what to do")
    if (tmp / "out").exists() and not any(name.split("/")[0] == "out" for name in entry.files):
        problems.append("the output directory exists")
    if (tmp / ".out.partial").exists():
        problems.append("the staging directory .out.partial exists")
    return problems


def expected_value(entry: BadInput, places: Mapping[str, str]) -> Any:
    """The value the message must show: the entry's ``value``, else what the input sets at ``param``."""
    from hf_transfer_kit.config.loader import apply_overrides
    from hf_transfer_kit.errors import ConfigError

    if entry.value is not MISSING:
        return substitute(entry.value, places)
    raw = substitute(merge(base_config(entry.config.get("task")), entry.config), places)
    try:
        apply_overrides(raw, substitute(entry.overrides, places))
    except ConfigError:
        pass
    return lookup(raw, entry.param)


def check_doc(entry: BadInput, message: str) -> None:
    """The doc's row for ``entry`` shows this exact message (or, when writing the doc, record it)."""
    record = os.environ.get(RECORD_ENV)
    if record:
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"id": entry.id, "message": message}) + "\n")
        return
    expected = row(entry, message)
    doc = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    assert expected in doc.splitlines(), (
        f"docs/bad_inputs.md is out of date for {entry.id!r}; run `python tests/test_bad_inputs.py --write`.\n"
        f"expected row: {expected}")


def test_doc_lists_exactly_the_catalogue() -> None:
    """Rows for removed or renamed entries fail here (each entry's own row is checked by the test above)."""
    ids = [e.id for e in CATALOGUE]
    assert len(ids) == len(set(ids)), "duplicate entry ids"
    assert len([e for e in CATALOGUE if not e.gap]) >= 30 and set(AREAS) == {e.area for e in CATALOGUE}
    order = [e.id for area in AREAS for e in CATALOGUE if e.area == area and not e.gap]
    order += [e.id for e in CATALOGUE if e.gap]
    documented = re.findall(r"^\| `([\w-]+)` \|", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert documented == order, "docs/bad_inputs.md lists other entries; run `python tests/test_bad_inputs.py --write`"


def main() -> int:
    """``--write``: run every entry through pytest (fixtures included), then render docs/bad_inputs.md."""
    if sys.argv[1:] != ["--write"]:
        print(__doc__)
        return 2
    record = ROOT / "docs" / ".bad_inputs.record.jsonl"
    record.unlink(missing_ok=True)
    env = {**os.environ, RECORD_ENV: str(record)}
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__)),
                            "-k", "test_bad_input_fails_early"], cwd=ROOT, env=env)
    messages = {}
    for line in record.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        messages[item["id"]] = item["message"]
    record.unlink()
    missing = [e.id for e in CATALOGUE if e.id not in messages and not (e.skip_if and e.skip_if())]
    if code != 0 or missing:
        print(f"not writing {DOC}: pytest exit {code}, entries without a message: {missing}", file=sys.stderr)
        return 1
    for entry in CATALOGUE:  # an entry skipped on this machine keeps its documented row
        if entry.id not in messages:
            messages[entry.id] = _documented_message(entry)
    DOC.write_text(render(messages), encoding="utf-8")
    print(f"wrote {DOC} ({len(CATALOGUE)} entries)")
    return 0


def _documented_message(entry: BadInput) -> str:
    text = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    for line in text.splitlines():
        if line.startswith(f"| `{entry.id}` |"):
            cells = re.split(r"(?<!\\) \| ", line.strip("| "))
            return cells[3].replace("\\|", "|")
    raise SystemExit(f"{entry.id} was skipped here and has no documented message yet; run --write where it runs")


if __name__ == "__main__":
    raise SystemExit(main())


# ---- the same inputs on the real shipped model ------------------------------------------------------------------

#: Inputs sized against the tiny BERT (2 layers, 128 positions, a bare encoder as teacher): valid for MiniLM-L6.
TINY_SIZED = {"freeze-more-layers-than-exist", "lora-freeze-more-layers-than-exist",
              "pretrain-max-length-beyond-positions", "distill-layers-beyond-depth"}


def _real_model_params() -> Iterator[Any]:
    """Text entries that run on the tiny BERT, run again on the real MiniLM-L6: a check that holds only on tiny models
    (a position table the tokenizer's model_max_length happens to match, say) is caught here."""
    for entry in CATALOGUE:
        uses_tiny = "<tiny-bert>" in json.dumps(base_config(entry.config.get("task"))) + json.dumps(entry.config)
        vision = re.search(r"image-classification|<tiny-vit>|<tiny-cnn>", json.dumps(entry.config))
        if uses_tiny and not vision and not entry.gap and entry.config_path is None and entry.hub_env is None \
                and entry.id not in TINY_SIZED:
            yield pytest.param(entry, id=entry.id)


@pytest.mark.slow
@pytest.mark.parametrize("entry", list(_real_model_params()))
def test_bad_input_names_the_same_parameter_on_the_real_model(entry: BadInput, tmp_path: Path, tiny_model_dir: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import MINILM
    from hf_transfer_kit.errors import ConfigError

    if entry.skip_if is not None and entry.skip_if():
        pytest.skip(entry.skip_if())
    hide_modules(entry, monkeypatch)
    write_files(entry, tmp_path)
    with pytest.raises(ConfigError) as info:
        trigger(entry, {"<tmp>": str(tmp_path), "<tiny-bert>": MINILM}, tmp_path)
    assert info.value.param == entry.param, str(info.value)

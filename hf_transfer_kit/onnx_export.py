"""ONNX export of a classification run (``hf-transfer-kit export RUN DEST --format onnx``), checked against PyTorch.

What DEST holds: ``model.onnx`` (fp32), the run's tokenizer or image processor files, ``config.json`` (``id2label``,
``problem_type``), ``README.md`` (inputs, outputs, how to run it with onnxruntime, the measurements) and
``export.json`` (the same facts for programs); with ``--quantize int8`` also ``model.int8.onnx``.

Exporter: ``torch.onnx.export(..., dynamo=True)`` (the ``torch.export`` based exporter, torch's default since 2.9),
not the legacy TorchScript one. Measured on a merged LoRA BERT (torch 2.13): the dynamo graph has symbolic
``batch`` / ``sequence`` axes and matches PyTorch within 1e-8 at batch and sequence sizes other than the traced ones;
the TorchScript tracer, given the same ``dynamic_axes``, bakes Python-side shape decisions of transformers' attention
mask code into the graph (its ``TracerWarning``\\ s) and was off by 6e-3 at another batch size -- it exports, but
not a model that keeps its word on dynamic axes. ViT, ResNet, ConvNeXt and EfficientNet-Lite export the same way.

Opset: :data:`OPSET` (20, the dynamo exporter's own default in torch 2.13; onnxruntime runs it from 1.17 on).

Axes: text models take ``input_ids`` / ``attention_mask`` (and ``token_type_ids`` where the tokenizer makes them),
int64 ``[batch, sequence]``; image models take ``pixel_values``, float32 ``[batch, 3, height, width]`` (the processor's
size); both return float32 ``logits [batch, num_labels]``. Trace inputs have two examples so that neither axis is
specialised to 1.

The check: the ONNX model's logits against the PyTorch model's (LoRA-family adapters merged first,
``merge_and_unload``) on real inputs from the run -- its test split as training carved it, the rows ``evaluate``
scores (:meth:`~hf_transfer_kit.tasks.problem_type.ProblemTypeMixin.saved_split`), at most :data:`MAX_EXAMPLES`, in
batches of :data:`BATCH_SIZE` padded per batch, so batch and sequence sizes vary. A run trained on in-memory data has no
test split to read again: it is checked on :data:`SYNTHETIC_EXAMPLES` random inputs (random tokens or pixels of
several lengths) and its README says so. A difference above :data:`TOLERANCE` fails the export before anything is
published (DEST is staged, then renamed).

``--quantize int8``: onnxruntime's dynamic quantisation (``quantize_dynamic``: int8 weights, activations quantised at
run time), written beside the fp32 model. On the test split both are scored with the run's own metric (accuracy for
single-label), and their CPU latency is measured: median per batch, one thread and onnxruntime's default thread count,
fp32 and int8 timed in turn on the same batches.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import shutil
import statistics
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from . import hardware
from .data.image import open_images
from .errors import ConfigError
from .metrics import write_json
from .problems import problem_class, saved_problem
from .registry import get_task
from .tasks.image_classification.recipe import ImageClassificationRecipe
from .tasks.text_classification.recipe import TextClassificationRecipe
from .vision.transforms import ImageTransform

#: The ai.onnx opset the graph is written in.
OPSET = 20
#: Largest difference of any logit between onnxruntime and PyTorch (fp32) that the export accepts.
TOLERANCE = 1e-4
#: Examples per batch for the check and the measurements (the last batch may be smaller).
BATCH_SIZE = 16
#: At most this many test examples are read (the first ones of the split).
MAX_EXAMPLES = 1000
#: Random inputs for the check of a run that has no test split.
SYNTHETIC_EXAMPLES = 16
#: Latency: passes over at most this many batches, each timed once per pass and model.
LATENCY_BATCHES, LATENCY_PASSES = 16, 2
MODEL_FILE, INT8_FILE, REPORT_FILE = "model.onnx", "model.int8.onnx", "export.json"
PACKAGES = ("onnx", "onnxscript", "onnxruntime")
#: Files of a run that say how to read the logits (a multi-label run's tuned thresholds).
READ_OUT_FILES = ("thresholds.json",)


# ---- refusals, before any work -----------------------------------------------------------------------------------
def check_task(task: str) -> None:
    """Only classifiers (text, image; a distilled student is one) map inputs to one logits tensor."""
    if not issubclass(get_task(task), (TextClassificationRecipe, ImageClassificationRecipe)):
        raise ConfigError("--format", "onnx", f"exports text-classification and image-classification runs (a distill "
                          f"student too); this run's task is {task}. Export it with --format transformers (the "
                          "default, and the other format there is): a transformers model directory.")


def check_packages() -> None:
    """onnx, onnxscript (the dynamo exporter's translator) and onnxruntime (the check) are an optional extra."""
    missing = []
    for name in PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ConfigError("--format", "onnx", f"needs {', '.join(missing)}, which are not installed; install them "
                          "with pip install 'hf-transfer-kit[onnx]'.")


# ---- inputs -------------------------------------------------------------------------------------------------------
@dataclass
class Examples:
    """What the check and the measurements read: the run's test rows (with labels) or random inputs (without)."""

    texts: list[str] = field(default_factory=list)
    pairs: Optional[list[str]] = None
    images: list[Any] = field(default_factory=list)
    labels: Optional[np.ndarray] = None
    label_names: list[str] = field(default_factory=list)
    source: str = "test split"
    total: int = 0  # size of the split they come from

    def __len__(self) -> int:
        return len(self.images) or len(self.texts)


def run_examples(config: Any, preprocessor: Any) -> Examples:
    """The run's test split (first :data:`MAX_EXAMPLES` rows), or random inputs where the run has none."""
    recipe_cls = get_task(config.task)
    data = config.data
    image = issubclass(recipe_cls, ImageClassificationRecipe)
    if recipe_cls(config).has_data_source():
        split, names, _ = recipe_cls.saved_split(config)
        total = len(split)
        split = split.select(range(min(MAX_EXAMPLES, total)))
        if image:
            return Examples(images=list(split[data.image_column]), labels=np.asarray(split["label"]),
                            label_names=names, total=total)
        pairs = list(split[data.text_pair_column]) if data.text_pair_column else None
        return Examples(texts=list(split[data.text_column]), pairs=pairs, labels=np.asarray(split["label"]),
                        label_names=names, total=total)
    rng = np.random.default_rng(0)
    source = f"{SYNTHETIC_EXAMPLES} random inputs (the run was trained on in-memory data: no test split to read)"
    if image:
        images = [rng.integers(0, 256, (int(rng.integers(16, 96)), int(rng.integers(16, 96)), 3), dtype=np.uint8)
                  for _ in range(SYNTHETIC_EXAMPLES)]
        return Examples(images=images, source=source, total=SYNTHETIC_EXAMPLES)
    special = set(preprocessor.all_special_ids)
    vocab = [i for i in range(min(len(preprocessor), 30000)) if i not in special]

    def text() -> str:
        return preprocessor.decode(rng.choice(vocab, int(rng.integers(2, 48))).tolist())

    pairs = [text() for _ in range(SYNTHETIC_EXAMPLES)] if data.text_pair_column else None
    return Examples(texts=[text() for _ in range(SYNTHETIC_EXAMPLES)], pairs=pairs, source=source,
                    total=SYNTHETIC_EXAMPLES)


def batches(examples: Examples, preprocessor: Any, config: Any, names: list[str]) -> list[dict[str, np.ndarray]]:
    """Model inputs as numpy, :data:`BATCH_SIZE` examples each, preprocessed as ``evaluate`` / ``predict`` do (text:
    truncated to ``data.max_length``, padded to the longest in the batch; images: RGB, then the image processor)."""
    out = []
    transform = ImageTransform(preprocessor, config.data.image_column, train=False) if examples.images else None
    for i in range(0, len(examples), BATCH_SIZE):
        if transform:
            pixels = transform.images(open_images(examples.images[i:i + BATCH_SIZE]))
            out.append({"pixel_values": pixels.numpy().astype(np.float32)})
        else:
            pairs = examples.pairs[i:i + BATCH_SIZE] if examples.pairs else None
            encoded = preprocessor(examples.texts[i:i + BATCH_SIZE], pairs, truncation=True,
                                   max_length=config.data.max_length, padding=True, return_tensors="np")
            out.append({name: encoded[name].astype(np.int64) for name in names})
    return out


def input_names(model: Any, preprocessor: Any, image: bool) -> list[str]:
    """The model inputs the graph takes: ``pixel_values``, or the tokenizer's outputs the model's forward accepts."""
    if image:
        return ["pixel_values"]
    produced = list(preprocessor(["a b"]))
    accepted = inspect.signature(model.forward).parameters
    return [name for name in produced if name in accepted]


# ---- export, check, quantise, measure --------------------------------------------------------------------------
class Logits(torch.nn.Module):
    """The classifier as the graph sees it: named tensors in (positional, in ``names`` order), logits out."""

    def __init__(self, model: Any, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs))).logits


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """The exporter's and quantiser's notes (missing torchvision ops, pre-processing hints) are not the user's to act
    on: hidden while they run."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def to_onnx(model: Any, names: list[str], example: dict[str, np.ndarray], path: Path) -> None:
    """Write ``model`` (eval mode, fp32) as ONNX with dynamic batch (and sequence) axes."""
    batch = torch.export.Dim("batch")
    sequence = torch.export.Dim("sequence")
    dims = [{0: batch} if name == "pixel_values" else {0: batch, 1: sequence} for name in names]
    args = tuple(torch.from_numpy(example[name]) for name in names)
    with quiet_exporter():
        program = torch.onnx.export(Logits(model, names), args, input_names=names, output_names=["logits"],
                                    dynamic_shapes=(tuple(dims),), opset_version=OPSET, dynamo=True, verbose=False)
        program.save(str(path))


def trace_example(feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Two examples of different lengths where there are (a size of 1 would be fixed into the graph)."""
    first = feeds[0]
    if len(next(iter(first.values()))) >= 2:
        return {name: value[:2] for name, value in first.items()}
    return {name: np.concatenate([value, value]) for name, value in first.items()}


@torch.inference_mode()
def torch_logits(model: Any, feeds: list[dict[str, np.ndarray]]) -> np.ndarray:
    return np.concatenate([model(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits.float().numpy()
                           for feed in feeds])


def session(path: Path, threads: int = 0) -> Any:
    """An onnxruntime CPU session; ``threads`` 0 leaves the intra-op thread count to onnxruntime."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(sess: Any, feeds: list[dict[str, np.ndarray]]) -> np.ndarray:
    return np.concatenate([sess.run(["logits"], feed)[0] for feed in feeds])


def quantize_int8(src: Path, dest: Path) -> None:
    """onnxruntime's dynamic int8 quantisation: int8 weights (MatMul, Gemm, Conv...), activations quantised per batch.

    Without ``quant_pre_process``: its symbolic shape inference fails on the dynamo graph, and with that step skipped
    it changed neither the logits nor the latency of the quantised MiniLM (measured); the hint it logs is hidden."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with quiet_exporter():
        quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8)


def latencies(paths: dict[str, Path], feeds: list[dict[str, np.ndarray]], threads: int) -> dict[str, float]:
    """Median seconds per batch for each model, timed in turn on the same batches (full batches where any)."""
    full = [feed for feed in feeds if len(next(iter(feed.values()))) == BATCH_SIZE] or feeds
    timed = full[:LATENCY_BATCHES]
    sessions = {name: session(path, threads) for name, path in paths.items()}
    times: dict[str, list[float]] = {name: [] for name in paths}
    for sess in sessions.values():
        sess.run(["logits"], timed[0])  # warm-up: first-run allocations
    for _ in range(LATENCY_PASSES):
        for feed in timed:
            for name, sess in sessions.items():
                start = time.perf_counter()
                sess.run(["logits"], feed)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def score(config: Any, run_dir: Path, logits: np.ndarray, examples: Examples) -> dict[str, float]:
    """The run's main metric (accuracy for single-label) of these logits, as ``evaluate`` computes it."""
    metric, _ = problem_class(config.model.problem_type).main_metric
    scores = saved_problem(run_dir, config).score(logits, examples.labels, examples.label_names)
    return {metric: float(scores[metric])}


def write(staging: Path, run_dir: Path, model: Any, preprocessor: Any, config: Any, quantize: Optional[str] = None,
          tolerance: float = TOLERANCE, adapter: Optional[str] = None) -> dict[str, Any]:
    """Export ``model`` (a loaded run, adapter merged) into ``staging``, check it, quantise and measure on request;
    return what ``export.json`` records. Raises :class:`ConfigError` when onnxruntime disagrees with PyTorch."""
    model = model.float().eval()
    image = issubclass(get_task(config.task), ImageClassificationRecipe)
    names = input_names(model, preprocessor, image)
    examples = run_examples(config, preprocessor)
    feeds = batches(examples, preprocessor, config, names)

    fp32 = staging / MODEL_FILE
    to_onnx(model, names, trace_example(feeds), fp32)
    reference = torch_logits(model, feeds)
    fp32_logits = onnx_logits(session(fp32), feeds)
    diff = float(np.abs(fp32_logits - reference).max())
    if not diff <= tolerance:  # NaN fails too
        raise ConfigError("--format", "onnx", f"the exported model's logits differ from PyTorch's by up to {diff:.3g} "
                          f"(more than {tolerance:g}) on {len(examples)} examples of the {examples.source}; nothing "
                          "was written. The exporter translated an operation of this model inexactly: export with "
                          "--format transformers instead.")

    import onnx
    import onnxruntime

    graph = onnx.load(str(fp32), load_external_data=False).graph
    report: dict[str, Any] = {
        "format": "onnx", "model": MODEL_FILE, "opset": OPSET,
        "exporter": f"torch.onnx dynamo exporter, torch {torch.__version__}",
        "onnxruntime": onnxruntime.__version__, "task": config.task, "problem_type": config.model.problem_type,
        "adapter": adapter, "id2label": {str(k): v for k, v in model.config.id2label.items()},
        "inputs": {i.name: shape_of(i) for i in graph.input}, "outputs": {o.name: shape_of(o) for o in graph.output},
        "max_length": None if image else config.data.max_length,
        "check": {"max_abs_diff": diff, "tolerance": tolerance, "examples": len(examples), "source": examples.source,
                  "batch_size": BATCH_SIZE},
    }
    if examples.labels is not None:
        report["test_split"] = {"examples": len(examples), "of": examples.total,
                                "pytorch": score(config, run_dir, reference, examples),
                                "onnx_fp32": score(config, run_dir, fp32_logits, examples)}
    else:
        report["test_split"] = None
    if quantize:
        int8 = staging / INT8_FILE
        quantize_int8(fp32, int8)
        int8_logits = onnx_logits(session(int8), feeds)
        machine = hardware.describe_machine()
        quantized: dict[str, Any] = {
            "model": INT8_FILE, "method": "onnxruntime.quantization.quantize_dynamic (QInt8 weights)",
            "max_abs_diff_vs_fp32": float(np.abs(int8_logits - fp32_logits).max()),
            "size_mb": {"fp32": round(fp32.stat().st_size / 1e6, 2), "int8": round(int8.stat().st_size / 1e6, 2)},
            "cpu": machine["cpu"], "usable_cpus": machine["usable_cpus"],
            "avx512_vnni": machine["cpu_flags"]["avx512_vnni"],
        }
        if config.model.problem_type == "single_label":
            quantized["same_prediction"] = float(np.mean(int8_logits.argmax(-1) == fp32_logits.argmax(-1)))
        if examples.labels is not None:
            quantized["onnx_int8"] = score(config, run_dir, int8_logits, examples)
            paths = {"fp32": fp32, "int8": int8}
            quantized["latency_s_per_batch"] = {"one_thread": latencies(paths, feeds, 1),
                                                "default_threads": latencies(paths, feeds, 0)}
            full = [f for f in feeds if len(next(iter(f.values()))) == BATCH_SIZE]
            quantized["latency_batch_size"] = BATCH_SIZE if full else len(next(iter(feeds[0].values())))
        report["int8"] = quantized

    preprocessor.save_pretrained(str(staging))
    model.config.save_pretrained(str(staging))
    for name in READ_OUT_FILES:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, staging / name)
    write_json(report, staging / REPORT_FILE)
    (staging / "README.md").write_text(readme(report, run_dir, image), encoding="utf-8")
    return report


def shape_of(value: Any) -> list[Any]:
    """A graph input's / output's dims: names for the dynamic axes, numbers for the fixed ones."""
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


# ---- README --------------------------------------------------------------------------------------------------------
READ_OUT = {
    "single_label": "softmax over the last axis; the class is `id2label[argmax]` (config.json).",
    "multi_label": "sigmoid of each logit; a label applies where its probability reaches its threshold in "
                   "thresholds.json.",
    "regression": "the predicted value itself, in the units of the training targets.",
}


def readme(report: dict[str, Any], run_dir: Path, image: bool) -> str:
    """The export's README: files, inputs and outputs, how to run it, the check and the measurements."""
    labels = list(report["id2label"].values())
    lines = [f"# {run_dir.name}: ONNX export", "",
             f"The {report['task']} run `{run_dir}` exported by `hf-transfer-kit export --format onnx` "
             f"({report['exporter']}; ai.onnx opset {report['opset']}). Problem type {report['problem_type']}; "
             f"{len(labels)} output(s): {', '.join(map(str, labels[:20]))}{' ...' if len(labels) > 20 else ''}."
             + (f" Its PEFT adapter ({report['adapter']}) is merged into the weights." if report["adapter"] else ""),
             "",
             "## Files", "", "| file | what |", "| --- | --- |",
             f"| `{MODEL_FILE}` | the model in fp32 |"]
    if "int8" in report:
        lines.append(f"| `{INT8_FILE}` | the same model with int8 weights (onnxruntime dynamic quantisation) |")
    if report["problem_type"] == "multi_label":
        lines.append("| `thresholds.json` | the probability from which each label applies (tuned in training) |")
    lines += ["| `config.json` | the model config: `id2label`, `label2id`, `problem_type` |",
              "| `preprocessor_config.json` | the image processor (resize, crop, normalisation) |" if image else
              "| `tokenizer.json`, `tokenizer_config.json` | the tokenizer |",
              f"| `{REPORT_FILE}` | the check and the measurements below, for programs |", ""]
    lines += ["## Inputs and outputs", "", "| name | type | shape |", "| --- | --- | --- |"]
    for name, dims in report["inputs"].items():
        kind = "float32" if name == "pixel_values" else "int64"
        lines.append(f"| `{name}` (input) | {kind} | `[{', '.join(map(str, dims))}]` |")
    for name, dims in report["outputs"].items():
        lines.append(f"| `{name}` (output) | float32 | `[{', '.join(map(str, dims))}]` |")
    prep = ("Images: converted to RGB, then the image processor (its resize, crop and normalisation)." if image else
            f"Text: tokenized with truncation to {report['max_length']} tokens (the run's `data.max_length`), padded "
            "to the longest text of the batch.")
    lines += ["", f"`batch`{'' if image else ' and `sequence`'} are dynamic. {prep} Read the logits: "
              f"{READ_OUT[report['problem_type']]}", "", "## Run it with onnxruntime", "",
              "From this directory (`pip install onnxruntime transformers`):", "", "```python",
              *snippet(report, image), "```", ""]
    check = report["check"]
    lines += ["## Check", "", f"onnxruntime's logits matched PyTorch's (fp32) on {check['examples']} examples of the "
              f"{check['source']}, in batches of {check['batch_size']}: largest difference "
              f"{check['max_abs_diff']:.2g} (allowed {check['tolerance']:g}).", ""]
    lines += measurements(report)
    return "\n".join(lines) + "\n"


#: The snippet's last lines: the logits read as ``predict`` reads them, per problem type.
READ_OUT_CODE = {
    "single_label": ["print([id2label[int(i)] for i in logits.argmax(-1)])"],
    "multi_label": ['thresholds = json.load(open("thresholds.json"))["thresholds"]',
                    "probs = 1 / (1 + np.exp(-logits))",
                    "print([[id2label[j] for j, p in enumerate(row) if p >= thresholds[id2label[j]]]",
                    "       for row in probs])"],
    "regression": ["print(logits[:, 0].tolist())"],
}


def snippet(report: dict[str, Any], image: bool) -> list[str]:
    """Python that runs the export with onnxruntime, from this directory."""
    names = list(report["inputs"])
    head = (["import json", ""] if report["problem_type"] == "multi_label" else []) + ["import numpy as np",
                                                                                      "import onnxruntime as ort"]
    common = ['id2label = AutoConfig.from_pretrained(".").id2label',
              f'session = ort.InferenceSession("{MODEL_FILE}", providers=["CPUExecutionProvider"])']
    if image:
        lines = [*head, "from PIL import Image", "from transformers import AutoConfig, AutoImageProcessor", "",
                 'processor = AutoImageProcessor.from_pretrained(".")', *common,
                 'images = [Image.open(path).convert("RGB") for path in ["cat.jpg"]]',
                 'pixel_values = processor(images, return_tensors="np")["pixel_values"].astype(np.float32)',
                 'logits = session.run(["logits"], {"pixel_values": pixel_values})[0]']
    else:
        lines = [*head, "from transformers import AutoConfig, AutoTokenizer", "",
                 'tokenizer = AutoTokenizer.from_pretrained(".")', *common,
                 f'batch = tokenizer(["Replace this with the text to classify."], truncation=True, '
                 f'max_length={report["max_length"]}, padding=True, return_tensors="np")',
                 f'logits = session.run(["logits"], {{name: batch[name].astype(np.int64) for name in {names!r}}})[0]']
    return lines + READ_OUT_CODE[report["problem_type"]]


def measurements(report: dict[str, Any]) -> list[str]:
    """The test-split table (metric per model; latency where int8 was measured), or why there is none."""
    split = report["test_split"]
    if split is None:
        return ["## Measurements", "", "This run has no test split (it was trained on in-memory data), so nothing was "
                "measured: score the models on your own examples." + (" The int8 model was written unmeasured; it "
                "differs from fp32 by up to {:.2g} in the logits on the random check inputs.".format(
                    report["int8"]["max_abs_diff_vs_fp32"]) if "int8" in report else ""), ""]
    metric = next(iter(split["pytorch"]))
    lines = ["## Measurements", "", f"On the run's test split ({split['examples']} of {split['of']} examples).", ""]
    int8 = report.get("int8")
    if not int8:
        lines += [f"| model | {metric} |", "| --- | --- |", f"| PyTorch fp32 | {split['pytorch'][metric]:.4f} |",
                  f"| ONNX fp32 | {split['onnx_fp32'][metric]:.4f} |", ""]
        return lines
    one, default = int8["latency_s_per_batch"]["one_thread"], int8["latency_s_per_batch"]["default_threads"]
    lines += [f"| model | {metric} | size (MB) | median latency per batch of {int8['latency_batch_size']}, 1 thread "
              "| default threads |", "| --- | --- | --- | --- | --- |",
              f"| PyTorch fp32 | {split['pytorch'][metric]:.4f} | | | |"]
    for key in ("fp32", "int8"):
        value = (split["onnx_fp32"] if key == "fp32" else int8["onnx_int8"])[metric]
        lines.append(f"| ONNX {key} | {value:.4f} | {int8['size_mb'][key]} | {one[key] * 1e3:.1f} ms | "
                     f"{default[key] * 1e3:.1f} ms |")
    change = int8["onnx_int8"][metric] - split["onnx_fp32"][metric]
    lines += ["", f"int8 vs fp32: {metric} {change:+.4f}; speed-up {one['fp32'] / one['int8']:.2f}x on one thread, "
              f"{default['fp32'] / default['int8']:.2f}x with onnxruntime's default threads"
              + (f"; same prediction on {int8['same_prediction']:.1%} of the examples" if "same_prediction" in int8
                 else "") + ".",
              f"Measured on {int8['cpu']} ({int8['usable_cpus']} usable CPUs, AVX512-VNNI "
              f"{'yes' if int8['avx512_vnni'] else 'no'}), onnxruntime {report['onnxruntime']}.", ""]
    return lines

"""``export --format onnx``: a LoRA text run and an image run become ONNX models that onnxruntime runs to PyTorch's
logits (within 1e-4) at batch and sequence sizes other than the traced ones; ``--quantize int8`` measures fp32 vs
int8 on the test split; the refusals come before any work and nothing half-written is left."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from datasets import Dataset
from PIL import Image

from conftest import MINILM, tiny_config, toy_dataset
from hf_transfer_kit import TextClassificationRecipe, load_for_inference
from hf_transfer_kit.cli import main
from hf_transfer_kit.cli.export import export
from hf_transfer_kit.config import config_from_dict, save_config
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.inference import image_logits
from hf_transfer_kit.onnx_export import TOLERANCE
from hf_transfer_kit.tasks import ImageClassificationRecipe
from test_vision import CLASSES, tiny_vision_models, toy_images

TEXTS = ["football at the park on a sunny day with friends", "a new computer", "pasta",
         "the tech of the computer and the football", "pasta and sauce for dinner at home tonight with family"]


def train_text(root: Path, model_dir: str, strategy: dict, name: str = "text") -> Path:
    """A tiny run read from a CSV file, so it has a test split (carved, seeded) that export reads again."""
    csv = root / f"{name}.csv"
    toy_dataset(90).to_csv(str(csv))
    cfg = tiny_config(root / name, model_dir, strategy, max_steps=4)
    cfg.data.train_file, cfg.baselines = str(csv), False
    return TextClassificationRecipe(cfg).run().output_dir


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str) -> Path:
    return train_text(tmp_path_factory.mktemp("onnx-text"), tiny_model_dir, {"name": "lora", "r": 4, "lora_alpha": 32})


@pytest.fixture(scope="module")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ViT with LoRA trained on an image folder (one subfolder per class)."""
    root = tmp_path_factory.mktemp("onnx-image")
    vit = tiny_vision_models(root / "models")["vit"]
    for i, img in enumerate(toy_images(45)):
        (root / "images" / CLASSES[i % 3]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / "images" / CLASSES[i % 3] / f"{i}.png")
    cfg = config_from_dict({
        "task": "image-classification", "output_dir": str(root / "run"), "baselines": False,
        "model": {"name_or_path": vit}, "data": {"image_folder": str(root / "images")},
        "strategy": {"name": "lora", "r": 4},
        "training": {"max_steps": 3, "per_device_train_batch_size": 8, "learning_rate": 1e-3, "eval_strategy": "no",
                     "bf16": False, "disable_tqdm": True}})
    return ImageClassificationRecipe(cfg).run().output_dir


def readme_code(dest: Path) -> str:
    return re.search(r"```python\n(.*?)```", (dest / "README.md").read_text(), re.S).group(1)


def test_lora_text_run_exports_to_onnx_matching_pytorch(tmp_path: Path, text_run: Path) -> None:
    dest = tmp_path / "onnx"
    assert main(["export", str(text_run), str(dest), "--format", "onnx"]) == 0
    written = {p.name for p in dest.iterdir()}
    assert {"model.onnx", "config.json", "tokenizer.json", "README.md", "export.json"} <= written
    assert not (dest / "model.int8.onnx").exists()
    assert json.loads((dest / "config.json").read_text())["id2label"] == {"0": "food", "1": "sports", "2": "tech"}
    graph = onnx.load(str(dest / "model.onnx")).graph
    assert {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input} == {
        "input_ids": ["batch", "sequence"], "attention_mask": ["batch", "sequence"],
        "token_type_ids": ["batch", "sequence"]}
    assert graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    report = json.loads((dest / "export.json").read_text())
    assert report["opset"] == 20 and report["adapter"] == "LORA"
    assert report["check"]["source"] == "test split" and report["check"]["examples"] == 9
    assert report["check"]["max_abs_diff"] <= TOLERANCE

    # onnxruntime on its own, against the unmerged adapter in PyTorch, at batch sizes and lengths never traced
    adapter_model, tokenizer, _ = load_for_inference(text_run)
    session = ort.InferenceSession(str(dest / "model.onnx"), providers=["CPUExecutionProvider"])
    for texts in (TEXTS[:1], TEXTS[:3], TEXTS):
        batch = tokenizer(texts, padding=True, return_tensors="np")
        got = session.run(["logits"], {k: v.astype(np.int64) for k, v in batch.items()})[0]
        with torch.inference_mode():
            expected = adapter_model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.numpy()
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)

    # the README's snippet runs as written, from the export's directory
    proc = subprocess.run([sys.executable, "-c", readme_code(dest)], cwd=dest, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] in {"['food']", "['sports']", "['tech']"}


def test_image_run_exports_to_onnx_matching_pytorch(tmp_path: Path, image_run: Path) -> None:
    dest = export(image_run, tmp_path / "onnx", format="onnx")
    assert (dest / "preprocessor_config.json").is_file()
    # the classes are the folder names, sorted
    assert json.loads((dest / "config.json").read_text())["id2label"] == {"0": "bright", "1": "dark", "2": "mid"}
    report = json.loads((dest / "export.json").read_text())
    assert report["inputs"] == {"pixel_values": ["batch", 3, 32, 32]} and report["outputs"] == {"logits": ["batch", 3]}
    assert report["check"]["max_abs_diff"] <= TOLERANCE and report["check"]["examples"] == 5

    model, processor, _ = load_for_inference(image_run)
    paths = []
    for i, img in enumerate(toy_images(5, seed=9)):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(img).save(paths[-1])
    session = ort.InferenceSession(str(dest / "model.onnx"), providers=["CPUExecutionProvider"])
    for n in (1, 5):
        pixels = processor([Image.open(p).convert("RGB") for p in paths[:n]], return_tensors="np")["pixel_values"]
        got = session.run(["logits"], {"pixel_values": pixels.astype(np.float32)})[0]
        np.testing.assert_allclose(got, image_logits(model, processor, [str(p) for p in paths[:n]]), atol=1e-4, rtol=0)

    code = readme_code(dest).replace('"cat.jpg"', repr(str(paths[0])))
    proc = subprocess.run([sys.executable, "-c", code], cwd=dest, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] in {f"[{c!r}]" for c in CLASSES}


@pytest.mark.parametrize("problem_type", ["multi_label", "regression"])
def test_readme_snippet_reads_multi_label_and_regression_logits_as_predict_does(
        tmp_path: Path, tiny_model_dir: str, problem_type: str, capsys: pytest.CaptureFixture[str]) -> None:
    from test_multi_label import multi_label_config, toy_rows
    from test_regression import regression_config, toy_scores

    if problem_type == "multi_label":
        rows, cfg = toy_rows(60), multi_label_config(tmp_path, tiny_model_dir, max_steps=3)
        data = Dataset.from_dict({"text": rows["text"], "labels": rows["labels"]})
    else:
        scores, cfg = toy_scores(60), regression_config(tmp_path, tiny_model_dir, max_steps=3)
        data = Dataset.from_dict(scores)
    data.to_json(str(tmp_path / "train.jsonl"))
    cfg.data.train_file, cfg.baselines = str(tmp_path / "train.jsonl"), False
    run = TextClassificationRecipe(cfg).run().output_dir
    dest = export(run, tmp_path / "onnx", format="onnx")
    report = json.loads((dest / "export.json").read_text())
    assert report["problem_type"] == problem_type and report["check"]["max_abs_diff"] <= TOLERANCE
    assert (dest / "thresholds.json").is_file() == (problem_type == "multi_label")

    proc = subprocess.run([sys.executable, "-c", readme_code(dest)], cwd=dest, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = ast.literal_eval(proc.stdout.strip().splitlines()[-1])[0]  # the snippet prints a Python list
    capsys.readouterr()
    assert main(["predict", str(run), "Replace this with the text to classify."]) == 0
    predicted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    if problem_type == "multi_label":
        assert got == predicted["labels"]
    else:
        assert got == pytest.approx(predicted["value"], abs=1e-3)


def test_int8_quantisation_measures_accuracy_and_latency(tmp_path: Path, text_run: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(text_run)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert main(["export", str(text_run), str(tmp_path / "q"), "--format", "onnx", "--quantize", "int8"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    dest = tmp_path / "q"
    report = json.loads((dest / "export.json").read_text())
    int8 = report["int8"]
    assert (dest / "model.int8.onnx").stat().st_size < 0.6 * (dest / "model.onnx").stat().st_size
    # the fp32 model scores what `evaluate` scores on the same test split; int8 is scored on it too
    assert report["test_split"]["onnx_fp32"]["accuracy"] == pytest.approx(evaluated["accuracy"])
    assert report["test_split"]["pytorch"]["accuracy"] == pytest.approx(evaluated["accuracy"])
    assert summary["test_int8"] == int8["onnx_int8"] and 0 <= int8["onnx_int8"]["accuracy"] <= 1
    for threads in ("one_thread", "default_threads"):
        assert set(int8["latency_s_per_batch"][threads]) == {"fp32", "int8"}
        assert all(0 < t < 5 for t in int8["latency_s_per_batch"][threads].values())
    assert 0 < int8["max_abs_diff_vs_fp32"] < 1 and 0 <= int8["same_prediction"] <= 1

    # the int8 model runs under onnxruntime to the logits its measurements came from
    session = ort.InferenceSession(str(dest / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    _, tokenizer, _ = load_for_inference(text_run)
    logits = session.run(["logits"], {k: v.astype(np.int64) for k, v in tokenizer(TEXTS, padding=True,
                                                                                  return_tensors="np").items()})[0]
    assert logits.shape == (5, 3) and np.isfinite(logits).all()

    readme = (dest / "README.md").read_text()
    assert "| ONNX int8 |" in readme and "| ONNX fp32 |" in readme and int8["cpu"] in readme
    assert f"{int8['onnx_int8']['accuracy']:.4f}" in readme and "speed-up" in readme


def test_in_memory_run_is_checked_on_random_inputs_and_says_it_has_no_test_split(tmp_path: Path,
                                                                                  tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir, {"name": "full"}, max_steps=2)
    run = TextClassificationRecipe(cfg, train_dataset=toy_dataset(24)).run().output_dir
    dest = export(run, tmp_path / "onnx", format="onnx", quantize="int8")
    report = json.loads((dest / "export.json").read_text())
    assert report["test_split"] is None and "random inputs" in report["check"]["source"]
    assert report["check"]["examples"] == 16 and report["check"]["max_abs_diff"] <= TOLERANCE
    assert "latency_s_per_batch" not in report["int8"] and (dest / "model.int8.onnx").is_file()
    assert "has no test split" in (dest / "README.md").read_text()


# ---- refusals, before any work --------------------------------------------------------------------------------------
def saved_run(root: Path, task: str) -> Path:
    """A run directory of another task: its saved recipe is all that the refusal reads."""
    out = root / task
    out.mkdir()
    save_config(config_from_dict({"task": task, "output_dir": str(out), "model": {"name_or_path": MINILM}}), out)
    return out


@pytest.mark.parametrize("task", ["text-generation", "text2text-generation", "token-classification"])
def test_tasks_without_a_single_logits_output_are_refused(tmp_path: Path, task: str) -> None:
    with pytest.raises(ConfigError) as info:
        export(saved_run(tmp_path, task), tmp_path / "onnx", format="onnx")
    assert info.value.param == "--format" and "--format transformers" in str(info.value) and task in str(info.value)
    assert not (tmp_path / "onnx").exists() and not (tmp_path / ".onnx.partial").exists()


def test_bottleneck_adapter_is_refused_for_onnx(tmp_path: Path, tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir, {"name": "adapter", "reduction_factor": 8}, max_steps=1)
    run = TextClassificationRecipe(cfg, train_dataset=toy_dataset(24)).run().output_dir
    with pytest.raises(ConfigError, match="cannot be folded") as info:
        export(run, tmp_path / "onnx", format="onnx")
    assert info.value.param == "--format" and "--format transformers" in str(info.value)
    assert not (tmp_path / "onnx").exists() and not (tmp_path / ".onnx.partial").exists()


def test_missing_onnxruntime_names_the_extra(tmp_path: Path, text_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` meets where it is not installed
    with pytest.raises(ConfigError, match=re.escape("pip install 'hf-transfer-kit[onnx]'")) as info:
        export(text_run, tmp_path / "onnx", format="onnx")
    assert "onnxruntime" in info.value.fix and not (tmp_path / "onnx").exists()


def test_existing_dest_needs_overwrite_and_quantize_needs_onnx(tmp_path: Path, text_run: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    dest = export(text_run, tmp_path / "onnx", format="onnx")
    with pytest.raises(ConfigError, match="overwrite"):
        export(text_run, dest, format="onnx")
    assert main(["export", str(text_run), str(tmp_path / "copy"), "--quantize", "int8"]) == 2
    assert "--quantize='int8'" in capsys.readouterr().err and not (tmp_path / "copy").exists()
    before = (dest / "model.onnx").stat().st_mtime_ns
    assert export(text_run, dest, format="onnx", overwrite=True) == dest
    assert (dest / "model.onnx").stat().st_mtime_ns != before


def test_a_mismatch_fails_the_export_and_leaves_nothing(tmp_path: Path, text_run: Path) -> None:
    """The check's bound is a parameter: a bound below the real difference must fail, and publish nothing."""
    with pytest.raises(ConfigError, match="differ from PyTorch's") as info:
        export(text_run, tmp_path / "onnx", format="onnx", tolerance=1e-15)
    assert "nothing was written" in str(info.value)
    assert not (tmp_path / "onnx").exists() and not (tmp_path / ".onnx.partial").exists()


@pytest.mark.slow
def test_real_minilm_lora_exports_and_matches(tmp_path: Path) -> None:
    root = Path(__file__).parent.parent
    recipe = TextClassificationRecipe.from_yaml(root / "recipes" / "configs" / "nlp" / "minilm_lora.yaml", [
        "data.max_train_samples=48", "data.max_eval_samples=32", "data.max_length=64", "training.max_steps=6",
        "training.per_device_train_batch_size=8", "training.eval_strategy=no", "training.disable_tqdm=true",
        "baselines=false", f"output_dir={tmp_path / 'run'}"])
    result = recipe.run()
    run = result.output_dir
    dest = export(run, tmp_path / "onnx", format="onnx")
    report = json.loads((dest / "export.json").read_text())
    assert report["check"]["max_abs_diff"] <= TOLERANCE and report["check"]["examples"] == 32
    # the ONNX model scores the test split as the run's own final evaluation did
    assert report["test_split"]["onnx_fp32"]["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"])
    model, tokenizer, _ = load_for_inference(run)
    texts = recipe.splits["test"]["text"][:3]
    batch = tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="np")
    session = ort.InferenceSession(str(dest / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(["logits"], dict(batch))[0]
    with torch.inference_mode():
        expected = model(**tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")).logits
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=0)

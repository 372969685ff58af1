"""Model cards from real tiny runs of every strategy (and a vision run): metadata parsed back with
huggingface_hub equals metrics.json, the recipe is all there, the plots are real PNGs, and the
"How to use" snippet, executed as written, predicts what the kit predicts."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from huggingface_hub import ModelCard, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results
from PIL import Image

from conftest import STRATEGY_CASES, tiny_config, toy_dataset
from hf_transfer_kit import TextClassificationRecipe
from hf_transfer_kit.cli import main as cli_main
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.inference import load_for_inference
from hf_transfer_kit.cards import write_model_card

STRATEGIES = {name: STRATEGY_CASES[name] for name in ("full", "partial", "linear_probe", "bitfit", "lora", "ia3", "adapter")}
ADAPTERS = {"lora", "ia3", "adapter"}
SAMPLE = "a football match in the rain"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str) -> dict[str, Path]:
    """One finished tiny run per strategy, evaluated every 2 of 4 steps so the curve has a validation line."""
    out = {}
    for name, strategy in STRATEGIES.items():
        cfg = tiny_config(tmp_path_factory.mktemp(name), tiny_model_dir, strategy, max_steps=4,
                          eval_strategy="steps", eval_steps=2)
        recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(48), test_dataset=toy_dataset(12, seed=1))
        out[name] = recipe.run().output_dir
    return out


def card_text(directory: Path) -> str:
    return (directory / "README.md").read_text(encoding="utf-8")


def usage_code(directory: Path) -> str:
    """The python block of the card's "How to use" section, exactly as a reader would copy it."""
    section = card_text(directory).split("## How to use", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run_snippet(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, "<model card snippet>", "exec"), namespace)  # noqa: S102  (the point of the test)
    return namespace


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_card_metadata_parses_back_and_equals_metrics(runs: dict[str, Path], strategy: str) -> None:
    out = runs[strategy]
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    card = ModelCard.load(out / "README.md")
    data = card.data
    assert data.library_name == ("peft" if strategy in ADAPTERS else "transformers")
    assert data.pipeline_tag == "text-classification"
    assert {"hf-transfer-kit", "text-classification", STRATEGIES[strategy]["name"]} <= set(data.tags)
    assert data.base_model is None and "base_model_relation" not in data.to_dict()  # a local base has no Hub id
    assert data.metrics == ["accuracy", "f1", "precision", "recall"]
    results = {r.metric_type: r for r in data.eval_results}
    assert set(results) == {"accuracy", "f1", "precision", "recall"}
    for name, result in results.items():
        assert result.metric_value == metrics[name]  # copied exactly, not rounded
        assert (result.task_type, result.dataset_split) == ("text-classification", "test")
        assert result.dataset_name.startswith("in-memory dataset (")  # with its split sizes
    # The raw YAML is a valid model-index for huggingface_hub's own parser, not only for ModelCard.
    raw = metadata_load(out / "README.md")
    model_name, parsed = model_index_to_eval_results(raw["model-index"])
    assert model_name == out.name and [r.metric_value for r in parsed] == [results[k].metric_value for k in
                                                                           ("accuracy", "f1", "precision", "recall")]


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_card_records_the_recipe(runs: dict[str, Path], strategy: str) -> None:
    out = runs[strategy]
    text = card_text(out)
    params = json.loads((out / "metrics.json").read_text())["parameters"]
    assert f"{params['trainable']:,} / {params['total']:,}" in text
    assert "| learning_rate | 0.001 |" in text and "| max_steps | 4 |" in text and "| optimizer steps run | 4 |" in text
    assert "`seed=42`" in text and "- Hardware: CPU" in text and re.search(r"transformers \d+\.\d+", text)
    assert re.search(r"- Training time: \d+\.\d s", text)
    if params["frozen_modules"]:
        assert "Frozen modules:" in text


def test_strategy_settings_show_resolved_values(runs: dict[str, Path]) -> None:
    lora = card_text(runs["lora"])
    assert "| r | 4 |" in lora and "| lora_alpha | 16 |" in lora
    assert "| target_modules | auto → query, value |" in lora
    assert "LoRA adapter" in lora
    adapter = card_text(runs["adapter"])
    assert "| reduction_factor | 8 |" in adapter and "| placement | houlsby |" in adapter
    partial = card_text(runs["partial"])
    assert "| freeze_bottom_layers | 1 |" in partial and "| freeze_embeddings | true |" in partial
    frozen = partial.split("Frozen modules:", 1)[1].split("###", 1)[0]
    assert "- `bert.embeddings`" in frozen and "- `bert.encoder.layer.[0]`" in frozen
    assert "layer.[1]" not in frozen  # the top block trains
    ia3 = card_text(runs["ia3"])
    assert "| method | ia3 |" in ia3 and "IA³ adapter" in ia3


def test_plots_are_valid_pngs_embedded_in_the_card(runs: dict[str, Path]) -> None:
    out = runs["lora"]
    text = card_text(out)
    for name, min_width in (("training_curve", 400), ("confusion_matrix", 250)):
        path = out / "images" / f"{name}.png"
        assert f"]({'images/' + name}.png)" in text
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= min_width
            pixels = np.asarray(image.convert("L"))
        assert pixels.std() > 10  # something was drawn, not a blank canvas
    matrix = json.loads((out / "metrics.json").read_text())["test"]["confusion_matrix"]
    first_row = re.search(r"^\| food \| (.*) \|$", text, re.M).group(1)
    assert first_row == " | ".join(str(v) for v in matrix[0])


@pytest.mark.parametrize("strategy", ["full", "partial", "lora", "ia3", "adapter"])
def test_usage_snippet_runs_and_predicts_like_the_kit(runs: dict[str, Path], strategy: str) -> None:
    import torch

    out = runs[strategy]
    code = usage_code(out)
    assert f'"{out}"' in code  # no hub.repo_id: the snippet loads the output directory
    assert ("PeftModel.from_pretrained" in code) == (strategy in ADAPTERS)
    namespace = run_snippet(code)
    predicted = namespace["classifier"](SAMPLE)[0]
    model, tokenizer, _ = load_for_inference(out)
    with torch.inference_mode():
        probs = model(**tokenizer(SAMPLE, return_tensors="pt")).logits.softmax(-1)[0]
    assert predicted["label"] == model.config.id2label[int(probs.argmax())]
    assert predicted["score"] == pytest.approx(float(probs.max()), abs=1e-5)


def test_builtin_base_gives_hub_id_license_language_and_relation(runs: dict[str, Path], tmp_path: Path) -> None:
    """A run on the builtin MiniLM names its Hub repo and inherits apache-2.0 / en from the base's own card."""
    for strategy, relation in (("lora", "adapter"), ("full", "finetune")):
        copy = shutil.copytree(runs[strategy], tmp_path / strategy)
        config = yaml.safe_load((copy / "recipe_config.yaml").read_text())
        config["model"]["name_or_path"] = "builtin:all-MiniLM-L6-v2"
        config["hub"]["repo_id"] = f"me/minilm-{strategy}"
        (copy / "recipe_config.yaml").write_text(yaml.safe_dump(config))
        write_model_card(copy)
        data = ModelCard.load(copy / "README.md").data
        assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
        assert data.base_model_relation == relation
        assert (data.license, data.language) == ("apache-2.0", "en")
        assert data.eval_results[0].metric_value == json.loads((copy / "metrics.json").read_text())["test"]["accuracy"]
        text = card_text(copy)
        hub_id = "sentence-transformers/all-MiniLM-L6-v2"
        assert f"[`{hub_id}`](https://huggingface.co/{hub_id})" in text
        code = usage_code(copy)
        assert f'"me/minilm-{strategy}"' in code
        assert ('"sentence-transformers/all-MiniLM-L6-v2"' in code) == (strategy == "lora")


def test_card_command_regenerates_for_a_repo_id(runs: dict[str, Path], tmp_path: Path) -> None:
    copy = shutil.copytree(runs["full"], tmp_path / "full")
    (copy / "README.md").unlink()
    shutil.rmtree(copy / "images")
    with contextlib.redirect_stdout(io.StringIO()) as stdout:
        assert cli_main(["card", str(copy), "--repo-id", "someone/tiny-topics"]) == 0
    assert stdout.getvalue().strip() == str(copy / "README.md")
    card = ModelCard.load(copy / "README.md")
    assert card.data.eval_results[0].metric_value == json.loads((copy / "metrics.json").read_text())["test"]["accuracy"]
    assert metadata_load(copy / "README.md")["model-index"][0]["name"] == "tiny-topics"
    assert 'model="someone/tiny-topics"' in usage_code(copy)
    assert (copy / "images" / "training_curve.png").is_file() and (copy / "images" / "confusion_matrix.png").is_file()


def test_without_matplotlib_the_card_omits_images(runs: dict[str, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    copy = shutil.copytree(runs["bitfit"], tmp_path / "bitfit")
    shutil.rmtree(copy / "images")
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, module, None)  # makes `import` raise ImportError
    write_model_card(copy)
    text = card_text(copy)
    assert not (copy / "images").exists() and "images/" not in text and "![" not in text
    assert "| food |" in text  # the confusion matrix still appears, as a table
    assert ModelCard.load(copy / "README.md").data.eval_results


def test_card_template_errors_name_the_setting(runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"template='.*nope\.md'.*no model card template") as err:
        write_model_card(runs["full"], template=tmp_path / "nope.md")
    assert "text_classification" in str(err.value)  # lists the templates that exist
    copy = shutil.copytree(runs["full"], tmp_path / "full")
    config = yaml.safe_load((copy / "recipe_config.yaml").read_text())
    config["task"] = "summarization"
    (copy / "recipe_config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"task='summarization': unknown task\. Available: .*text-classification"):
        write_model_card(copy)
    copy = shutil.copytree(runs["full"], tmp_path / "full-custom")
    custom = tmp_path / "mine.md"
    custom.write_text("---\n{{ card_data }}\n---\n\n# {{ model_name }} by me\n\n{{ usage }}")
    write_model_card(copy, template=custom)
    assert "# out by me" in card_text(copy) and ModelCard.load(copy / "README.md").data.eval_results


def test_vision_run_card(tiny_model_dir: str, tmp_path: Path) -> None:
    """A real tiny ViT fine-tune: image template, image pipeline tag, no language, snippet classifies an image."""
    import torch
    from transformers import AutoModelForImageClassification, ViTConfig, ViTImageProcessor

    from hf_transfer_kit.config import config_from_dict
    from hf_transfer_kit.data.image import image_dataset
    from hf_transfer_kit.tasks import ImageClassificationRecipe

    torch.manual_seed(0)
    base = tmp_path / "tiny-vit"
    AutoModelForImageClassification.from_config(ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, image_size=32,
        patch_size=8)).save_pretrained(base)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(base)
    rng = np.random.default_rng(0)
    images = [np.clip(rng.normal((40, 128, 215)[i % 3], 25, (20, 20)), 0, 255).astype(np.uint8) for i in range(36)]
    data = image_dataset(images, [i % 3 for i in range(36)], ["dark", "mid", "bright"])
    sample = tmp_path / "sample.png"
    Image.fromarray(images[2]).save(sample)
    for strategy in ({"name": "full"}, {"name": "lora", "r": 4}):
        cfg = config_from_dict({
            "task": "image-classification", "output_dir": str(tmp_path / strategy["name"]), "baselines": False,
            "model": {"name_or_path": str(base)}, "data": {"dataset": None}, "strategy": strategy,
            "training": {"max_steps": 2, "per_device_train_batch_size": 8, "learning_rate": 1e-3,
                         "logging_steps": 1, "eval_strategy": "no", "bf16": False, "disable_tqdm": True}})
        out = ImageClassificationRecipe(cfg, train_dataset=data).run().output_dir
        card = ModelCard.load(out / "README.md")
        metrics = json.loads((out / "metrics.json").read_text())["test"]
        assert card.data.pipeline_tag == "image-classification" and card.data.language is None
        assert card.data.library_name == ("peft" if strategy["name"] == "lora" else "transformers")
        assert {r.metric_type: r.metric_value for r in card.data.eval_results} == \
            {k: metrics[k] for k in ("accuracy", "f1", "precision", "recall")}
        assert "for **image classification** into 3 classes (dark, mid, bright)" in card_text(out)
        code = usage_code(out).replace('"path/or/url/to/an/image.jpg"', f'"{sample}"')
        predicted = run_snippet(code)["classifier"](str(sample))[0]
        assert predicted["label"] in {"dark", "mid", "bright"} and 0 < predicted["score"] <= 1
        with Image.open(out / "images" / "confusion_matrix.png") as image:
            assert image.format == "PNG"

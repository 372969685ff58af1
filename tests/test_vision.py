"""The image recipe end to end on tiny random ViT / ResNet / ConvNeXt / EfficientNet-Lite checkpoints:
every strategy freezes exactly what it says, adapts the right modules, trains, saves and reloads to
identical logits; predict / evaluate work on image files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hf_transfer_kit.cli import main as cli_main
from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.data.image import image_dataset
from hf_transfer_kit.inference import classify_images, load_for_inference
from hf_transfer_kit.tasks import ImageClassificationRecipe
from hf_transfer_kit.vision.transforms import ImageTransform

from conftest import STRATEGY_CASES

CLASSES = ["dark", "mid", "bright"]


def toy_images(n: int = 48, seed: int = 0, size: int = 20) -> list[np.ndarray]:
    """Greyscale images whose mean brightness gives the class, plus noise and a random bar: learnable, not trivial."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        level = (40, 128, 215)[i % 3]
        img = np.clip(rng.normal(level, 25, (size, size)), 0, 255)
        row = rng.integers(0, size - 3)
        img[row:row + 3] = rng.integers(0, 256)
        images.append(img.astype(np.uint8))
    return images


def toy_dataset(n: int = 48, seed: int = 0):
    return image_dataset(toy_images(n, seed), [i % 3 for i in range(n)], CLASSES)


def tiny_vision_models(root: Path) -> dict[str, str]:
    """Four architectures, random weights, each saved with an image processor like a Hub checkpoint."""
    from transformers import (
        AutoModelForImageClassification, ConvNextConfig, ConvNextImageProcessor, ResNetConfig, ViTConfig,
        ViTImageProcessor,
    )

    from hf_transfer_kit.vision import EfficientNetLiteConfig

    configs = {
        "vit": (ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                          image_size=32, patch_size=8), ViTImageProcessor(size={"height": 32, "width": 32})),
        "resnet": (ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="bottleneck"),
                   ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875)),
        "convnext": (ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2),
                     ConvNextImageProcessor(size={"shortest_edge": 32})),
        "efficientnet_lite": (EfficientNetLiteConfig(stem_channels=8, hidden_sizes=[8, 16], depths=[1, 2],
                                                     kernel_sizes=[3, 5], strides=[1, 2], expand_ratios=[1, 4],
                                                     hidden_dim=32),
                              ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875)),
    }
    out = {}
    for name, (config, processor) in configs.items():
        torch.manual_seed(0)
        path = root / name
        AutoModelForImageClassification.from_config(config).save_pretrained(path)
        processor.save_pretrained(path)
        out[name] = str(path)
    return out


@pytest.fixture(scope="session")
def vision_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return tiny_vision_models(tmp_path_factory.mktemp("tiny-vision"))


def vision_config(tmp_path: Path, model_dir: str, strategy: dict | None = None, data: dict | None = None, **training):
    return config_from_dict({
        "task": "image-classification", "output_dir": str(tmp_path / "out"), "baselines": False,
        "model": {"name_or_path": model_dir},
        "data": {"dataset": None, **(data or {})},
        "strategy": strategy or {"name": "full"},
        "training": {"max_steps": 2, "per_device_train_batch_size": 8, "learning_rate": 1e-3, "logging_steps": 1,
                     "eval_strategy": "no", "bf16": False, "disable_tqdm": True, **training},
    })


STRATEGIES = {name: case for name, case in STRATEGY_CASES.items() if name != "adapter_parallel"}
#: What ``target_modules: auto`` must pick: attention q/v for ViT, channel-mixing layers for CNNs.
AUTO_TARGETS = {
    "vit": {"q_proj", "v_proj"},
    "convnext": {"pwconv1", "pwconv2"},
    "efficientnet_lite": {"expand_conv", "project_conv", "top_conv"},
    "resnet": {"resnet.encoder.stages.0.layers.0.layer.0.convolution", "resnet.encoder.stages.0.layers.0.layer.2"
               ".convolution", "resnet.encoder.stages.1.layers.0.layer.0.convolution",
               "resnet.encoder.stages.1.layers.0.layer.2.convolution", "resnet.encoder.stages.1.layers.0.shortcut"
               ".convolution"},
}
#: The first entry of each model's block / stage stack, which freeze_bottom_layers=1 must freeze.
FIRST_STAGE = {"vit": "vit.layers.0.", "resnet": "resnet.encoder.stages.0.",
               "convnext": "convnext.encoder.stages.0.", "efficientnet_lite": "efficientnet_lite.encoder.blocks.0."}
STEM = {"vit": "vit.embeddings.", "resnet": "resnet.embedder.", "convnext": "convnext.embeddings.",
        "efficientnet_lite": "efficientnet_lite.embeddings."}
CASES = [(m, s) for m in AUTO_TARGETS for s in STRATEGIES if s != "adapter" or m == "vit"]


def check_freezing(arch: str, strategy: str, model: torch.nn.Module) -> None:
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    names = [n for n, _ in model.named_parameters()]
    head = {n for n in names if n.startswith("classifier")}
    if strategy == "full":
        assert trainable == set(names)
    elif strategy == "linear_probe":
        assert trainable == head
    elif strategy == "bitfit":
        assert trainable == head | {n for n in names if n.endswith(".bias")}
    elif strategy == "partial":
        frozen = set(names) - trainable
        assert frozen == {n for n in names if n.startswith((STEM[arch], FIRST_STAGE[arch]))} and frozen
    else:  # adapters: only adapter weights, the head and (CNNs) batch norms learn
        assert all("lora_" in n or "ia3_" in n or "hada_" in n or "adapter" in n or "modules_to_save" in n
                   for n in trainable), sorted(trainable)[:5]


@pytest.mark.parametrize(("arch", "strategy"), CASES)
def test_every_strategy_on_every_architecture(tmp_path: Path, vision_models: dict[str, str], arch: str,
                                              strategy: str) -> None:
    cfg = vision_config(tmp_path, vision_models[arch], STRATEGIES[strategy], {"horizontal_flip": False})
    recipe = ImageClassificationRecipe(cfg, train_dataset=toy_dataset(32), test_dataset=toy_dataset(9, seed=1))
    recipe.setup()
    before = {n: p.detach().clone() for n, p in recipe.model.named_parameters()}
    check_freezing(arch, strategy, recipe.model)
    if recipe.strategy.saves_adapter and strategy != "adapter":
        targets = recipe.strategy.resolved_options["target_modules"]
        assert set(targets) == AUTO_TARGETS[arch]
    recipe.trainer = None  # run() sets everything up again from scratch
    result = recipe.run()
    # training moved exactly the trainable weights
    moved = {n for n, p in recipe.model.named_parameters() if not torch.equal(p.detach(), before[n])}
    trainable = {n for n, p in recipe.model.named_parameters() if p.requires_grad}
    assert moved and moved <= trainable, sorted(moved - trainable)[:5]

    out = result.output_dir
    assert (out / "preprocessor_config.json").is_file() and (out / "README.md").is_file()
    assert (out / "adapter_config.json").is_file() == recipe.strategy.saves_adapter
    assert not list(out.glob("*.bin")) and list(out.glob("*.safetensors"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["num_examples"] == 9 and len(metrics["test"]["confusion_matrix"]) == 3

    model, processor, config = load_for_inference(out)
    assert config.data.label_names == CLASSES and model.config.id2label[2] == "bright"
    pixels = ImageTransform(processor, "image", train=False).images([Image.fromarray(a) for a in toy_images(4, 7)])
    with torch.inference_mode():
        torch.testing.assert_close(model(pixel_values=pixels).logits,
                                   recipe.trained_model().eval()(pixel_values=pixels).logits, rtol=1e-5, atol=1e-5)


def test_predict_and_evaluate_cli_on_image_files(tmp_path: Path, vision_models: dict[str, str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cfg = vision_config(tmp_path, vision_models["efficientnet_lite"], STRATEGIES["lora"], {"image_size": 24})
    recipe = ImageClassificationRecipe(cfg, train_dataset=toy_dataset(24))
    out = recipe.run().output_dir
    folder = tmp_path / "new"
    paths = []
    for i, img in enumerate(toy_images(6, seed=3)):
        (folder / CLASSES[i % 3]).mkdir(parents=True, exist_ok=True)
        paths.append(folder / CLASSES[i % 3] / f"{i}.png")
        Image.fromarray(img).save(paths[-1])
    capsys.readouterr()
    assert cli_main(["predict", str(out), *map(str, paths[:2])]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = recipe.predict([str(p) for p in paths[:2]])
    assert [line["image"] for line in lines] == [str(p) for p in paths[:2]]
    assert [line["label"] for line in lines] == [e["label"] for e in expected]
    assert [line["score"] for line in lines] == pytest.approx([e["score"] for e in expected], abs=1e-5)

    assert cli_main(["evaluate", str(out), "--file", str(folder)]) == 0
    report = json.loads(capsys.readouterr().out)
    model, processor, _ = load_for_inference(out)
    predicted = [r["label"] for r in classify_images(model, processor, [str(p) for p in paths])]
    truth = [p.parent.name for p in paths]
    assert report["num_examples"] == 6
    assert report["accuracy"] == pytest.approx(np.mean([a == b for a, b in zip(predicted, truth)]))


def test_a_tiny_cnn_learns_the_toy_task(tmp_path: Path, vision_models: dict[str, str]) -> None:
    cfg = vision_config(tmp_path, vision_models["efficientnet_lite"], {"name": "full"}, {"horizontal_flip": True},
                        max_steps=60, learning_rate=1e-2)
    result = ImageClassificationRecipe(cfg, train_dataset=toy_dataset(96), test_dataset=toy_dataset(30, seed=5)).run()
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    assert result.metrics["test"]["accuracy"] >= 0.8

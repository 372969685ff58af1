"""Image data and bad input: arrays / PIL / files / folders become RGB model inputs; every mistake fails with a
ConfigError naming the setting, its value and the fix -- before training, leaving no output directory."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from PIL import Image

from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.data.builtin import load_builtin
from hf_transfer_kit.data.image import image_dataset, open_images, to_pil
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.tasks import ImageClassificationRecipe
from hf_transfer_kit.vision.transforms import Augmentation, ImageTransform, processor_size, resize_overrides, to_rgb
from test_vision import toy_dataset, toy_images, vision_config, vision_models  # noqa: F401  (fixture)


@pytest.mark.parametrize(("array", "mode", "size"), [
    (np.zeros((5, 7), np.uint8), "L", (7, 5)),
    (np.zeros((5, 7, 1), np.int64), "L", (7, 5)),
    (np.full((5, 7, 3), 0.5), "RGB", (7, 5)),           # floats in [0, 1]
    (np.full((3, 5, 7), 200.0), "RGB", (7, 5)),         # channels first, floats in 0..255
    (np.zeros((5, 7, 4), np.uint8), "RGBA", (7, 5)),
    (np.ones((4, 4), bool), "L", (4, 4)),
])
def test_arrays_become_pil_images(array: np.ndarray, mode: str, size: tuple[int, int]) -> None:
    image = to_pil(array)
    assert image.mode == mode and image.size == size
    if array.dtype.kind == "f" and array.max() <= 1:
        assert np.asarray(image).max() == 128  # 0.5 * 255, rounded


@pytest.mark.parametrize(("array", "fix"), [
    (np.zeros(784), "reshape"),                    # flattened MNIST row
    (np.zeros((2, 5, 5, 3)), "reshape"),          # a batch, not an image
    (np.full((5, 5), -1.0), "rescale"),
    (np.full((5, 5), 300), "rescale"),
    (np.array([["a", "b"], ["c", "d"]]), "numeric"),
])
def test_arrays_that_are_not_images_are_config_errors(array: np.ndarray, fix: str) -> None:
    with pytest.raises(ConfigError) as err:
        to_pil(array)
    assert err.value.param == "data.image_column" and fix in err.value.fix


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F", "1"])
def test_every_pil_mode_converts_to_rgb(mode: str) -> None:
    image = Image.new(mode, (6, 4))
    if mode == "I;16":
        image = Image.fromarray(np.arange(24, dtype=np.uint16).reshape(4, 6) * 1000)
    rgb = to_rgb(image)
    assert rgb.mode == "RGB" and rgb.size == (6, 4)
    if mode == "I;16":  # 16-bit range spread over 8 bits, not clipped to white
        assert np.asarray(rgb)[..., 0].min() == 0 and np.asarray(rgb)[..., 0].max() == 255
    if mode in ("LA", "RGBA"):  # transparent pixels become white, not black
        assert np.asarray(rgb).min() == 255


def test_transforms_train_random_eval_deterministic(vision_models: dict[str, str]) -> None:  # noqa: F811
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(vision_models["resnet"])
    assert processor_size(processor) == (32, 32)
    assert resize_overrides(processor, 48) == {"size": {"shortest_edge": 48}}
    images = [Image.fromarray(a) for a in toy_images(4, size=40)] + [Image.new("RGBA", (13, 50))]
    train = ImageTransform(processor, "image", train=True, augmentation=Augmentation(color_jitter=0.3))
    evaluate = ImageTransform(processor, "image", train=False)
    torch.manual_seed(0)
    a = train.images(images)
    b = train.images(images)
    torch.manual_seed(0)
    assert a.shape == (5, 3, 32, 32) and not torch.equal(a, b) and torch.equal(a, train.images(images))
    assert torch.equal(evaluate.images(images), evaluate.images(images))
    smaller = AutoImageProcessor.from_pretrained(vision_models["resnet"], **resize_overrides(processor, 24))
    assert ImageTransform(smaller, "image", train=False).images(images).shape == (5, 3, 24, 24)


def test_builtin_image_datasets() -> None:
    digits = load_builtin("builtin:digits")["train"]
    assert len(digits) == 1797 and digits.features["label"].names == [str(i) for i in range(10)]
    assert digits[0]["image"].size == (8, 8) and np.asarray(digits[0]["image"]).max() > 200  # 0..16 scaled to 0..255
    mnist = load_builtin("builtin:mnist")["train"]
    assert len(mnist) == 5000 and mnist[0]["image"].size == (28, 28)
    assert sorted(set(mnist["label"])) == list(range(10))


def test_fashion_mnist_or_a_clear_install_hint() -> None:
    from hf_transfer_kit.data.builtin import FASHION_MNIST_DIR

    if not FASHION_MNIST_DIR.is_dir():
        with pytest.raises(ConfigError, match="apt-get install dataset-fashion-mnist"):
            load_builtin("builtin:fashion_mnist")
        return
    data = load_builtin("builtin:fashion_mnist")
    assert len(data["train"]) == 60000 and len(data["test"]) == 10000
    assert data["train"].features["label"].names[9] == "Ankle boot"


def test_mixed_sizes_modes_arrays_and_paths_train(tmp_path: Path, vision_models: dict[str, str]) -> None:  # noqa: F811
    """Greyscale, palette, RGBA, 16-bit and colour images of different sizes in one data set, as file paths."""
    paths, labels = [], []
    for i, array in enumerate(toy_images(18, size=16)):
        image = Image.fromarray(array).resize((16 + i, 30 - i))
        if i % 5 == 4:  # 16-bit greyscale
            image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
        else:
            image = image.convert(["L", "P", "RGBA", "RGB"][i % 5])
        paths.append(str(tmp_path / f"{i}.png"))
        image.save(paths[-1])
        labels.append(["dark", "mid", "bright"][i % 3])
    cfg = vision_config(tmp_path, vision_models["vit"])
    result = ImageClassificationRecipe(cfg, train_dataset=Dataset.from_dict({"image": paths, "label": labels})).run()
    assert result.metrics["test"]["num_examples"] > 0
    # arrays in memory (nested lists after datasets stores them) work the same way
    arrays = Dataset.from_dict({"image": [a.tolist() for a in toy_images(12)], "label": [i % 3 for i in range(12)]})
    cfg = vision_config(tmp_path / "arrays", vision_models["vit"])
    assert ImageClassificationRecipe(cfg, train_dataset=arrays).run().output_dir.is_dir()


def make_folder(root: Path, classes: list[str], per_class: int = 6) -> Path:
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i, array in enumerate(toy_images(per_class, seed=c)):
            Image.fromarray(array).save(root / name / f"{i}.png")
    return root


def test_image_folder_skips_and_counts_unreadable_files(tmp_path: Path, vision_models: dict[str, str],  # noqa: F811
                                                        caplog: pytest.LogCaptureFixture) -> None:
    folder = make_folder(tmp_path / "pets", ["cats", "dogs"], per_class=12)
    (folder / "cats" / "broken.png").write_bytes(b"\x89PNG not really")
    good = (folder / "dogs" / "0.png").read_bytes()
    (folder / "dogs" / "truncated.png").write_bytes(good[: len(good) // 2])
    cfg = vision_config(tmp_path, vision_models["efficientnet_lite"], data={"image_folder": str(folder),
                                                                          "test_size": 0.0, "validation_size": 0.25})
    with caplog.at_level(logging.WARNING, logger="hf_transfer_kit"):
        result = ImageClassificationRecipe(cfg).run()
    assert "unreadable" in caplog.text
    skipped = json.loads((result.output_dir / "metrics.json").read_text())["test"]["skipped_unreadable_images"]
    assert sum(skipped.values()) >= 1  # the broken files that landed in the evaluated split(s)
    recipe_labels = json.loads((result.output_dir / "config.json").read_text())["id2label"]
    assert recipe_labels == {"0": "cats", "1": "dogs"}


def expect_config_error(tmp_path: Path, cfg, param: str, fragment: str, **datasets) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        ImageClassificationRecipe(cfg, **datasets).run()
    assert err.value.param == param, err.value
    assert fragment in str(err.value)
    out = Path(cfg.output_dir)
    assert not out.exists() and not (out.parent / f".{out.name}.partial").exists()
    return err.value


def test_bad_inputs_fail_before_training_with_the_setting_named(
        tmp_path: Path, vision_models: dict[str, str], tiny_model_dir: str) -> None:  # noqa: F811
    models = vision_models
    one_class = make_folder(tmp_path / "one", ["cats"])
    expect_config_error(tmp_path, vision_config(tmp_path, models["vit"], data={"image_folder": str(one_class)}),
                        "data.image_folder", "at least 2 classes")
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (4, 4)).save(flat / "a.png")
    expect_config_error(tmp_path, vision_config(tmp_path, models["vit"], data={"image_folder": str(flat)}),
                        "data.image_folder", "no class subfolders")
    expect_config_error(tmp_path, vision_config(tmp_path, models["vit"], data={"image_folder": str(tmp_path / "x")}),
                        "data.image_folder", "no such directory")
    expect_config_error(tmp_path, vision_config(tmp_path, models["vit"], data={"label_column": "class"}),
                        "data.label_column", "Map yours with data.label_column=<name>", train_dataset=toy_dataset(12))
    expect_config_error(tmp_path, vision_config(tmp_path, models["vit"], data={"image_column": "img"}),
                        "data.image_column", "no such column", train_dataset=toy_dataset(12))
    expect_config_error(tmp_path, vision_config(tmp_path, tiny_model_dir), "model.name_or_path",
                        "no image-classification head", train_dataset=toy_dataset(12))
    expect_config_error(tmp_path, vision_config(tmp_path, models["vit"], data={"image_size": 48}),
                        "data.image_size", "leave data.image_size unset", train_dataset=toy_dataset(12))
    flat_rows = Dataset.from_dict({"image": [np.zeros(784).tolist()] * 6, "label": [0, 1] * 3})
    expect_config_error(tmp_path, vision_config(tmp_path, models["vit"]), "data.image_column", "reshape",
                        train_dataset=flat_rows)
    missing = Dataset.from_dict({"image": ["nope/1.png"] * 6, "label": [0, 1] * 3})
    expect_config_error(tmp_path, vision_config(tmp_path, models["vit"]), "data.image_column", "do not exist",
                        train_dataset=missing)
    expect_config_error(tmp_path, vision_config(tmp_path, models["vit"], remove_unused_columns=True),
                        "training.remove_unused_columns", "set it to false", train_dataset=toy_dataset(12))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    with pytest.raises(ConfigError, match="not a readable image"):
        open_images([str(broken)])


@pytest.mark.parametrize(("key", "value", "fix"), [
    ("crop_scale", [0.0, 1.0], "0 < min <= max <= 1"),
    ("crop_scale", [0.9, 0.5], "0 < min <= max <= 1"),
    ("color_jitter", 1.5, "[0, 1)"),
    ("image_size", 4, "at least 8"),
])
def test_bad_augmentation_settings_fail_at_parse_time(key: str, value: object, fix: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"task": "image-classification", "data": {key: value}})
    assert err.value.param == f"data.{key}" and fix in err.value.fix


def test_image_dataset_helper_keeps_label_names() -> None:
    ds = image_dataset(np.zeros((4, 6, 6), np.uint8), [0, 1, 1, 0], ["no", "yes"])
    assert ds.features["label"].names == ["no", "yes"] and ds[0]["image"].size == (6, 6)
    with pytest.raises(ConfigError, match="one label per image"):
        image_dataset(np.zeros((4, 6, 6), np.uint8), [0, 1])

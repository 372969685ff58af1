"""Image classification on any ``AutoModelForImageClassification``: ViT, ConvNeXt, ResNet, Swin, EfficientNet...

The same lifecycle, strategies and outputs as the text recipe; what differs is the data (images from a
folder, the Hub, files or memory) and the preprocessing (the checkpoint's ``AutoImageProcessor`` plus
training-time augmentation, applied on the fly). ``builtin:efficientnet-lite0`` is a real ImageNet model
that works offline.
"""

from __future__ import annotations

from typing import Any

from ... import vision  # noqa: F401  (registers the kit's vision models with the Auto classes)
from ...data.image import prepare_image_splits
from ...errors import ConfigError
from ...inference import classify_images, image_logits
from ...problems import head_config
from ...registry import register_task
from ...vision.transforms import Augmentation, ImageTransform, collate, resize_overrides
from ..base import Recipe, pretrained_kwargs
from ..problem_type import ProblemTypeMixin
from .config import ImageClassificationDataConfig


def check_image_classifier(model_path: str, model_config: Any) -> Any:
    """Load the checkpoint's config and make sure an image-classification head can be put on it."""
    from transformers import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING, AutoConfig

    try:
        config = AutoConfig.from_pretrained(model_path, revision=model_config.revision,
                                            trust_remote_code=model_config.trust_remote_code)
    except (OSError, ValueError) as err:
        raise ConfigError("model.name_or_path", model_config.name_or_path,
                          f"could not load a model config ({err}); check the id or directory.") from err
    remote = "AutoModelForImageClassification" in (getattr(config, "auto_map", None) or {})
    if type(config) not in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING and not remote:
        raise ConfigError("model.name_or_path", model_config.name_or_path,
                          f"is a '{config.model_type}' model, which has no image-classification head in "
                          "transformers; use an image model such as builtin:efficientnet-lite0, "
                          "google/vit-base-patch16-224 or microsoft/resnet-50 (or set task: text-classification).")
    return config


@register_task
class ImageClassificationRecipe(ProblemTypeMixin, Recipe):
    """Fine-tune a pretrained image backbone for a new set of labels: task and domain transfer."""

    task = "image-classification"
    modality = "image"
    data_config = ImageClassificationDataConfig
    auto_model = "AutoModelForImageClassification"
    auto_preprocessor = "AutoImageProcessor"
    preprocessor_arg = "image_processor"
    peft_task_type = None  # PEFT has no vision task type: the strategies save the head via modules_to_save
    usage_example = '"path/or/url/to/an/image.jpg"'

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        training = self.config.training
        if training.get("remove_unused_columns") is True:
            raise ConfigError("training.remove_unused_columns", True, "images are transformed on the fly from the "
                              "image column, which the Trainer must not drop; remove the setting or set it to false.")
        training["remove_unused_columns"] = False
        training.setdefault("label_names", ["labels"])  # PEFT wrappers hide `labels` from the Trainer's signature check
        self.skipped_images: dict[str, list[str]] = {}

    # ---- data ---------------------------------------------------------------------------------
    def raw_splits(self) -> tuple[Any, list[str]]:
        splits, names, self.skipped_images = prepare_image_splits(
            self.config.data, seed=self.config.training.get("seed", 42), num_labels=self.config.model.num_labels,
            in_memory=self.in_memory, problem_type=self.config.model.problem_type)
        return splits, names

    @classmethod
    def saved_logits(cls, model: Any, preprocessor: Any, config: Any, examples: Any) -> Any:
        return image_logits(model, preprocessor, list(examples[config.data.image_column]), batch_size=64)

    @classmethod
    def predict_rows(cls, model: Any, preprocessor: Any, config: Any, inputs: list[str], decode: Any) -> list[dict]:
        return [{"image": path, **result} for path, result in zip(inputs, classify_images(model, preprocessor, inputs,
                                                                                          decode=decode))]

    def load_preprocessor(self, model_path: str) -> Any:
        """The checkpoint's image processor; with ``data.image_size`` rescaled to it (and saved so with the run)."""
        from transformers import AutoImageProcessor

        check_image_classifier(model_path, self.config.model)
        model = self.config.model
        try:
            processor = AutoImageProcessor.from_pretrained(model_path, revision=model.revision,
                                                           trust_remote_code=model.trust_remote_code)
            if self.config.data.image_size:
                processor = AutoImageProcessor.from_pretrained(
                    model_path, revision=model.revision, trust_remote_code=model.trust_remote_code,
                    **resize_overrides(processor, self.config.data.image_size))
        except (OSError, ValueError) as err:
            raise ConfigError("model.name_or_path", model.name_or_path, f"could not load an image processor ({err}); "
                              "the checkpoint needs a preprocessor_config.json.") from err
        return processor

    def transforms(self, train: bool) -> Any:
        """The ``with_transform`` callable for a split (:class:`~hf_transfer_kit.vision.transforms.ImageTransform`)."""
        data = self.config.data
        aug = Augmentation(crop_scale=tuple(data.crop_scale), horizontal_flip=data.horizontal_flip,
                           color_jitter=data.color_jitter) if data.augment else None
        return ImageTransform(self.tokenizer, data.image_column, train=train and aug is not None, augmentation=aug)

    def preprocess(self, splits: Any) -> Any:
        """Attach the transforms (random for ``train``, deterministic otherwise); nothing is computed until the
        Trainer reads a batch. ``with_transform`` returns a new view, so ``self.splits`` keep their PIL images."""
        from datasets import DatasetDict

        return DatasetDict({split: ds.with_transform(self.transforms(train=split == "train"))
                            for split, ds in splits.items()})

    def data_collator(self) -> Any:
        return collate

    def unaugmented(self, split: str) -> Any:
        return self.splits[split].with_transform(self.transforms(train=False))

    # ---- model --------------------------------------------------------------------------------
    @classmethod
    def build_model(cls, model_path: str, label_names: list[str], model_config: Any, preprocessor: Any) -> Any:
        check_image_classifier(model_path, model_config)
        return cls.model_class().from_pretrained(
            model_path, **head_config(model_config.problem_type, label_names), ignore_mismatched_sizes=True,
            **pretrained_kwargs(model_config, cls.model_class(), model_path))

    def load_model(self, model_path: str, label_names: list[str]) -> Any:
        """Build the model, then push one real validation batch through it: a size the model cannot take
        (a ViT at another ``data.image_size``) fails here, before training, with the setting to change."""
        import torch

        model = super().load_model(model_path, label_names)
        batch = collate([self.datasets["validation"][i] for i in range(min(2, len(self.datasets["validation"])))])
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                model(pixel_values=batch["pixel_values"])
        except (RuntimeError, ValueError) as err:
            shape = tuple(batch["pixel_values"].shape[1:])
            if self.config.data.image_size:
                raise ConfigError("data.image_size", self.config.data.image_size,
                                  f"the model cannot take {shape} inputs ({err}); leave data.image_size unset to "
                                  "use the checkpoint's own size.") from err
            raise ConfigError("model.name_or_path", self.config.model.name_or_path,
                              f"the model fails on {shape} inputs from its own image processor ({err}); check "
                              "that its preprocessor_config.json matches the model.") from err
        model.train(was_training)
        return model

    # ---- scoring: the problem type's metrics and baselines (ProblemTypeMixin), whatever the modality --------
    def final_evaluation(self, split: str) -> dict[str, Any]:
        metrics = super().final_evaluation(split)
        if self.skipped_images:
            metrics["skipped_unreadable_images"] = {s: len(files) for s, files in self.skipped_images.items()}
        return metrics

    def predict(self, images: list[Any]) -> list[dict[str, Any]]:
        """Classify PIL images / arrays / file paths with the model in memory (eval transforms)."""
        return classify_images(self.trained_model(), self.tokenizer, images, decode=self.problem.decode)


__all__ = ["ImageClassificationRecipe", "check_image_classifier"]

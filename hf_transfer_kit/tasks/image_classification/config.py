"""The data section of task image-classification: an image folder or image column, and augmentation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ...config.schema import LabelDataConfig
from ...errors import ConfigError


@dataclass
class ImageClassificationDataConfig(LabelDataConfig):
    """The data section of task image-classification: an image folder or image column, and augmentation."""

    image_column: str = field(default="image", metadata={"help": "Column holding the images: datasets.Image, file "
                              "paths, numpy arrays / nested lists (H, W[, C]) or PIL images."})
    image_folder: Optional[str] = field(default=None, metadata={"help": "Local image folder: one subfolder of images "
                                        "per class, optionally inside train/ validation/ test/ subfolders. Unreadable "
                                        "files are skipped with a warning and counted in metrics.json."})
    image_size: Optional[int] = field(default=None, metadata={"help": "Train and evaluate at this square size instead "
                                      "of the checkpoint's (smaller is faster; CNNs accept any size, ViTs only their "
                                      "own)."})
    augment: bool = field(default=True, metadata={"help": "Random resized crop (+ flip, colour jitter) on training "
                          "images; evaluation images always get the checkpoint's deterministic resize and crop."})
    crop_scale: list[float] = field(default_factory=lambda: [0.5, 1.0], metadata={"help": "Area range of the random "
                                    "resized crop as fractions of the image (torchvision's default is [0.08, 1.0])."})
    horizontal_flip: bool = field(default=True, metadata={"help": "Flip training images left-right at random; turn off "
                                  "where mirroring changes the class (digits, text)."})
    color_jitter: float = field(default=0.0, metadata={"help": "Random brightness, contrast and saturation change of "
                                "up to this fraction on training images (0 = off; 0.4 is strong)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_size is not None and self.image_size < 8:
            raise ConfigError("data.image_size", self.image_size, "use a size of at least 8 pixels, e.g. 128, or null "
                              "for the checkpoint's own size.")
        scale = self.crop_scale
        if len(scale) != 2 or not all(isinstance(v, (int, float)) for v in scale) or not 0 < scale[0] <= scale[1] <= 1:
            raise ConfigError("data.crop_scale", scale, "use two fractions [min, max] with 0 < min <= max <= 1, e.g. "
                              "[0.5, 1.0].")
        if not 0 <= self.color_jitter < 1:
            raise ConfigError("data.color_jitter", self.color_jitter, "use a fraction in [0, 1), e.g. 0.2 (0 turns it off).")

    def resolve_sources(self, in_memory: bool = False) -> None:
        super().resolve_sources(in_memory)
        if in_memory:
            self.image_folder = None
        elif self.image_folder:  # the folder wins over files and data sets
            self.dataset = self.dataset_config = self.dataset_revision = None
            self.train_file = self.validation_file = self.test_file = None

    def scoring(self, file: Optional[str], max_samples: Optional[int]) -> ImageClassificationDataConfig:
        """As for every task, except that ``file`` is an image folder (one subfolder per class)."""
        data = super().scoring(file, max_samples)
        if file:
            data.train_file, data.image_folder = None, file
        return data

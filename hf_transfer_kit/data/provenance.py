"""What a run was trained on, as the card and metrics.json name it: the Hub data set (name, configuration), the
builtin corpus, or the user's files -- each file or folder with a content hash, so two runs on different versions
of ``train.csv`` can be told apart -- or in-memory data. Read from the resolved config after the sources were
resolved (:meth:`~hf_transfer_kit.config.DataConfig.resolve_sources`), never from a default."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

#: Data parameters that name the user's files or folders.
FILE_PARAMS = ("train_file", "validation_file", "test_file", "image_folder")


def content_hash(path: str | Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative paths and bytes, in sorted order)."""
    root = Path(path).expanduser()
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for file in files:
        if root.is_dir():
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def describe(data: Any, in_memory_sizes: Optional[dict[str, int]] = None) -> dict[str, Any]:
    """``{"source": "hub" | "builtin" | "files" | "in-memory", ...}`` for metrics.json's ``data``."""
    if in_memory_sizes:
        return {"source": "in-memory", "examples": dict(in_memory_sizes)}
    files = [{"param": f"data.{name}", "path": str(getattr(data, name)), "name": Path(getattr(data, name)).name,
              "sha256": content_hash(getattr(data, name))}
             for name in FILE_PARAMS if getattr(data, name, None) and Path(getattr(data, name)).expanduser().exists()]
    if files:
        return {"source": "files", "files": files}
    if data.dataset and data.dataset.startswith("builtin:"):
        return {"source": "builtin", "dataset": data.dataset}
    return {"source": "hub", "dataset": data.dataset, "config": data.dataset_config,
            "revision": getattr(data, "dataset_revision", None)}


def label(provenance: dict[str, Any]) -> str:
    """One line for the card: ``train.csv (sha256 1a2b3c4d5e6f), test.csv (...)``, ``imdb (plain_text)``..."""
    source = provenance.get("source")
    if source == "files":
        return ", ".join(f"{f['name']} (sha256 {f['sha256'][:12]})" for f in provenance["files"])
    if source == "in-memory":
        sizes = provenance.get("examples") or {}
        return "in-memory dataset (" + ", ".join(f"{n} {split}" for split, n in sizes.items()) + " examples)"
    name = provenance.get("dataset") or "unknown"
    details = [f"configuration {provenance['config']}" if provenance.get("config") else "",
               f"revision {provenance['revision']}" if provenance.get("revision") else ""]
    return name + (f" ({', '.join(d for d in details if d)})" if any(details) else "")

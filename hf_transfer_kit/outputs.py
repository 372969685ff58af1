"""Atomic output directories: a run writes into a hidden sibling and renames it into place at the end.

Why: a killed run must never leave a directory that loads as a model. Readers of ``output_dir``
see either nothing (or the previous complete run) or the new complete run -- never a mix.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import ConfigError


def staging_dir(output_dir: str | Path) -> Path:
    out = Path(output_dir)
    return out.parent / f".{out.name}.partial"


def check_output_dir(output_dir: str | Path, overwrite: bool) -> None:
    """Refuse to clobber a previous run unless asked to (checked before any expensive work)."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError("output_dir", str(out), "exists and is a file; choose a directory path.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError("output_dir", str(out), "exists and is not empty; choose a new output_dir or pass "
                          "--overwrite (overwrite_output_dir=true) to replace it.")


def begin(output_dir: str | Path) -> Path:
    """Create a fresh staging directory for ``output_dir`` (a stale one from a crashed run is cleared)."""
    staging = staging_dir(output_dir)
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def commit(staging: Path, output_dir: str | Path) -> Path:
    """Move the finished staging directory into place, replacing an old run only at the very end."""
    out = Path(output_dir)
    if out.exists():
        trash = out.parent / f".{out.name}.old"
        if trash.exists():
            shutil.rmtree(trash)
        out.rename(trash)
        staging.rename(out)
        shutil.rmtree(trash)
    else:
        staging.rename(out)
    return out


def abort(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)

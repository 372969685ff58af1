"""Atomic output directories: a run writes into a hidden sibling and renames it into place at the end.

Why: a killed run must never leave a directory that loads as a model. Readers of ``output_dir``
see either nothing (or the previous complete run) or the new complete run -- never a mix.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .errors import ConfigError


def staging_dir(output_dir: str | Path) -> Path:
    out = Path(output_dir)
    return out.parent / f".{out.name}.partial"


def _existing_ancestor(path: Path) -> Path:
    """The nearest existing directory above ``path``: where it will be created (checked without creating it)."""
    parent = path.resolve().parent
    while not parent.exists():
        parent = parent.parent
    return parent


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete Trainer checkpoint left in the staging directory by an interrupted run."""
    staging = staging_dir(output_dir)
    done = [p for p in staging.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(done, key=lambda p: int(p.name.rsplit("-", 1)[1])) if done else None


def check_output_dir(output_dir: str | Path, overwrite: bool, resume: bool = False) -> None:
    """Refuse to clobber a previous run unless asked to, and check the place is writable (before any work)."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError("output_dir", str(out), "exists and is a file; choose a directory path.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        what = "holds a finished run (nothing to resume)" if resume else "exists and is not empty"
        raise ConfigError("output_dir", str(out), f"{what}; choose a new output_dir or pass --overwrite "
                          "(overwrite_output_dir=true) to replace it.")
    if resume and latest_checkpoint(out) is None:
        raise ConfigError("resume", True, f"no checkpoint to resume from in {staging_dir(out)}; train without "
                          "--resume (and set training.save_strategy=steps or epoch so a run leaves checkpoints).")
    parent = _existing_ancestor(out)
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        raise ConfigError("output_dir", str(out), f"cannot write in {parent} ({err.strerror}); choose a writable "
                          "directory.") from err


def check_disk_space(output_dir: str | Path, needed_bytes: int) -> None:
    """Fail before training when the disk cannot hold the output (a full disk mid-save loses the run)."""
    parent = _existing_ancestor(Path(output_dir))
    free = shutil.disk_usage(parent).free
    if free < needed_bytes:
        raise ConfigError("output_dir", str(output_dir), f"only {free / 1e9:.2f} GB free there, the run needs about "
                          f"{needed_bytes / 1e9:.2f} GB (model, checkpoints); free space or choose another disk.")


def begin(output_dir: str | Path, resume: bool = False) -> Path:
    """Create the staging directory for ``output_dir``: fresh, or kept as is when resuming from its checkpoints."""
    staging = staging_dir(output_dir)
    if staging.exists() and not resume:
        shutil.rmtree(staging)
    staging.mkdir(parents=True, exist_ok=True)
    return staging


def commit(staging: Path, output_dir: str | Path) -> Path:
    """Move the finished staging directory into place, replacing an old run only at the very end.

    Intermediate Trainer checkpoints are dropped: the final model is saved, and they only served resuming.
    """
    for checkpoint in staging.glob("checkpoint-*"):
        shutil.rmtree(checkpoint)
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


def abort(staging: Path) -> bool:
    """Clean up after a failed run, keeping the staging directory when it holds a checkpoint to resume from."""
    if any(staging.glob("checkpoint-*/trainer_state.json")):
        return False
    shutil.rmtree(staging, ignore_errors=True)
    return True

"""Atomic output directories: a run writes into a hidden sibling and renames it into place at the end.

Why: a killed run must never leave a directory that loads as a model. Readers of ``output_dir``
see either nothing (or the previous complete run) or the new complete run -- never a mix.

What the kit may replace: only a directory that is provably one of its own outputs (the :data:`MARKER` file it
writes into every output, or a run saved before the marker existed: a ``recipe_config.yaml`` under the kit's
header) or an empty one. Anything else -- a folder of the user's, a training CSV -- is refused, never deleted.
Files are published with the permissions the user's umask gives (staging helpers write some files 0600).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .config.loader import SAVED_HEADER
from .errors import ConfigError

#: Written into every output the kit commits: the proof that ``--overwrite`` may replace the directory.
MARKER = ".hf_transfer_kit"


def is_ours(directory: str | Path) -> bool:
    """True for a directory the kit wrote: its marker, or (older runs) its resolved config under the kit's header."""
    out = Path(directory)
    if (out / MARKER).is_file():
        return True
    config = out / "recipe_config.yaml"
    try:
        return config.is_file() and config.read_text(encoding="utf-8", errors="replace").startswith(SAVED_HEADER)
    except OSError:
        return False


def _listing(directory: Path, most: int = 4) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in directory.iterdir())
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def apply_umask(root: Path) -> None:
    """Give every file and folder under ``root`` the permissions a plain ``open`` / ``mkdir`` would (helpers that
    stage through ``mkstemp`` / ``mkdtemp`` write 0600 / 0700, which other users of a shared machine cannot read)."""
    mask = umask()
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


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


def check_output_dir(output_dir: str | Path, overwrite: bool, resume: bool = False,
                     inputs: dict[str, str | None] | None = None) -> None:
    """Refuse to clobber a previous run unless asked to, and check the place is writable (before any work).
    ``inputs`` ({parameter: path}: data files, the base model) must not lie inside an output that gets replaced."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError("output_dir", str(out), "exists and is a file; choose a directory path.")
    if out.is_dir() and any(out.iterdir()):
        ours = is_ours(out)
        if not ours:
            raise ConfigError("output_dir", str(out), f"is not an output of hf_transfer_kit (it holds "
                              f"{_listing(out)}), so it is never replaced{' or resumed' if resume else ''}, not even "
                              "with --overwrite; choose a new output_dir, or empty this one yourself.")
        if not overwrite:
            what = "holds a finished run (nothing to resume)" if resume else "holds a finished run"
            raise ConfigError("output_dir", str(out), f"{what}; choose a new output_dir or pass --overwrite "
                              "(overwrite_output_dir=true) to replace it.")
    for param, path in (inputs or {}).items():
        if path and out.exists() and Path(path).expanduser().resolve().is_relative_to(out.resolve()):
            raise ConfigError(param, str(path), f"lies inside output_dir {out}, which the run replaces when it "
                              "finishes; move it out of there, or choose another output_dir.")
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
        if any(staging.iterdir()) and not (staging / MARKER).is_file() and not any(staging.glob("checkpoint-*")):
            raise ConfigError("output_dir", str(output_dir), f"{staging} exists but was not left by a run of the kit; "
                              "it is never deleted: move it away, or choose another output_dir.")
        shutil.rmtree(staging)  # a run's leftover staging folder (its marker or checkpoints prove it)
    staging.mkdir(parents=True, exist_ok=True)
    (staging / MARKER).write_text("An output of hf_transfer_kit: `--overwrite` may replace this directory.\n")
    return staging


def commit(staging: Path, output_dir: str | Path) -> Path:
    """Move the finished staging directory into place, replacing an old run only at the very end.

    Intermediate Trainer checkpoints are dropped: the final model is saved, and they only served resuming.
    """
    for checkpoint in staging.glob("checkpoint-*"):
        shutil.rmtree(checkpoint)
    (staging / MARKER).touch()
    apply_umask(staging)
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

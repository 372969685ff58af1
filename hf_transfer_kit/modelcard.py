"""Model cards through huggingface_hub's ModelCard / ModelCardData / EvalResult and a Jinja template.

Why huggingface_hub's classes: they emit the metadata and ``model-index`` the Hub parses, so
results show up in the Hub UI and leaderboards without us hand-writing YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import RecipeConfig

# A link to the top-level model_cards/ folder, so the templates ship inside the wheel too.
TEMPLATES = Path(__file__).parent / "templates"


def _template(task: str) -> Path:
    return TEMPLATES / f"{task.replace('-', '_')}.md"


def _usage(config: RecipeConfig, adapter: bool) -> str:
    if adapter:
        return ("from hf_transfer_kit.inference import load_pipeline\n\n"
                "classifier = load_pipeline('path/or/repo')  # base model + adapter\n"
                "print(classifier('Your text here'))")
    return ("from transformers import pipeline\n\n"
            "classifier = pipeline('text-classification', model='path/or/repo')\n"
            "print(classifier('Your text here'))")


def build_model_card(directory: Path, config: RecipeConfig, metrics: dict[str, Any]) -> Any:
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    adapter = (directory / "adapter_config.json").is_file()
    test = metrics.get("test", {})
    dataset = config.data.dataset or config.data.train_file or "in-memory data"
    results = [EvalResult(task_type=config.task, dataset_type=dataset, dataset_name=dataset, dataset_split="test",
                          metric_type=name, metric_value=float(test[name]))
               for name in ("accuracy", "f1", "precision", "recall") if name in test]
    base = config.model.name_or_path
    card_data = ModelCardData(
        library_name="peft" if adapter else "transformers", base_model=base,
        pipeline_tag=config.task, tags=["hf-transfer-kit", config.strategy.name, config.task],
        metrics=[r.metric_type for r in results], model_name=Path(config.output_dir).name, eval_results=results or None,
    )
    base_line = metrics.get("baselines", {})
    baselines = ", ".join(f"{k.replace('_', ' ')}: {v:.4f}" for k, v in base_line.items())
    return ModelCard.from_template(
        card_data, template_path=str(_template(config.task)), base_model=base,
        base_model_url=base if base.startswith("builtin:") else f"https://huggingface.co/{base}",
        num_labels=len(config.data.label_names or []), label_list=", ".join(config.data.label_names or []),
        strategy=config.strategy.name, results=[{"split": "test", "name": r.metric_type, "value": f"{r.metric_value:.4f}"}
                                                for r in results],
        baselines=f"Baselines on the same test split: {baselines}." if baselines else "",
        parameters=_params_line(metrics), strategy_settings=config.strategy.to_dict(),
        train_seconds=metrics.get("train", {}).get("wall_seconds", "?"), hardware=_hardware(),
        usage=_usage(config, adapter),
    )


def _params_line(metrics: dict[str, Any]) -> str:
    p = metrics.get("parameters", {})
    return f"{p.get('trainable', 0):,} of {p.get('total', 0):,} parameters trained ({p.get('percent', 0):.2f}%)"


def _hardware() -> str:
    from .hardware import describe

    return describe()


def write_model_card(directory: Path, config: RecipeConfig, metrics: dict[str, Any],
                     log_history: list[dict[str, Any]] | None = None) -> Path:
    card = build_model_card(directory, config, metrics)
    path = directory / "README.md"
    card.save(str(path))
    return path

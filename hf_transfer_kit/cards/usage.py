"""The card's "How to use" snippet, written for the exact output (full model or adapter) and task.

Why plain transformers / peft code and not our own loader: the card is read on the Hub by people
who do not have the kit. A full or merged model is a standard checkpoint (``pipeline`` loads it);
an adapter needs its base model built with the run's labels first, then ``PeftModel`` on top --
with the base named by its Hub id, because the path inside ``adapter_config.json`` may be local to
the training machine. The snippet is executed by the tests against real outputs.
"""

from __future__ import annotations

from typing import Optional

from ..assets import resolve_model_path
from ..config import RecipeConfig
from .metadata import hub_model_id
from .run import RunRecord


def model_reference(config: RecipeConfig, repo_id: Optional[str] = None) -> str:
    """What the snippet loads: the Hub repo when known (argument, then ``hub.repo_id``), else the output dir."""
    return repo_id or config.hub.repo_id or config.output_dir


def base_reference(config: RecipeConfig) -> str:
    """The base model as the snippet names it: its Hub id when it has one, else the local directory."""
    return hub_model_id(config.model.name_or_path) or resolve_model_path(config.model.name_or_path)


def usage_snippet(run: RunRecord, model_id: str, merged: bool = False) -> str:
    """Python code that loads this output and runs one prediction (the task's own snippet where it has one)."""
    task = run.task_class
    custom = task.card_snippet(run, model_id, merged)
    if custom is not None:
        return custom
    pipeline_task = run.task
    if not run.is_adapter or merged:
        return (f"from transformers import pipeline\n\n"
                f'classifier = pipeline("{pipeline_task}", model="{model_id}")\n'
                f"print(classifier({task.usage_example}))\n")
    revision = f", revision={run.config.model.revision!r}" if run.config.model.revision else ""
    register = ("import hf_transfer_kit.adapters  # registers the bottleneck adapter method with PEFT\n"
                if run.peft_method == "BOTTLENECK" else "")
    labels = ", ".join(f'"{name}"' for name in run.label_names)
    auto, preprocessor, arg = task.auto_model, task.auto_preprocessor, task.preprocessor_arg
    return (
        f"from peft import PeftModel\n"
        f"from transformers import {auto}, {preprocessor}, pipeline\n"
        f"{register}\n"
        + (f"labels = [{labels}]\n"
           f"base = {auto}.from_pretrained(\n"
           f'    "{base_reference(run.config)}"{revision}, num_labels=len(labels), id2label=dict(enumerate(labels)),\n'
           f"    label2id={{label: i for i, label in enumerate(labels)}}, ignore_mismatched_sizes=True)\n"
           if run.label_names else  # a span head (question answering) has no labels
           f'base = {auto}.from_pretrained("{base_reference(run.config)}"{revision})\n')
        + f'model = PeftModel.from_pretrained(base, "{model_id}").eval()\n'
        f'{arg} = {preprocessor}.from_pretrained("{model_id}")\n'
        f'classifier = pipeline("{pipeline_task}", model=model, {arg}={arg})\n'
        f"print(classifier({task.usage_example}))\n"
    )

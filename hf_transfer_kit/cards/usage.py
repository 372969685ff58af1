"""The card's "How to use" snippet, written for the exact output (full model or adapter) and task.

Why plain transformers / peft code and not our own loader: the card is read on the Hub by people
who do not have the kit. A full or merged model is a standard checkpoint (``pipeline`` loads it);
an adapter needs its base model built with the run's labels first, then ``PeftModel`` on top --
with the base named by its Hub id, because the path inside ``adapter_config.json`` may be local to
the training machine. The snippet is executed by the tests against real outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..assets import resolve_model_path
from ..config import RecipeConfig
from .metadata import hub_model_id
from .run import RunRecord


@dataclass(frozen=True)
class TaskUsage:
    """What differs between task families in the snippet."""

    auto_class: str
    preprocessor_class: str
    preprocessor_arg: str
    example_input: str


TASK_USAGE = {
    "text-classification": TaskUsage("AutoModelForSequenceClassification", "AutoTokenizer", "tokenizer",
                                     '"Replace this with the text to classify."'),
    "image-classification": TaskUsage("AutoModelForImageClassification", "AutoImageProcessor", "image_processor",
                                      '"path/or/url/to/an/image.jpg"'),
    # the mask token is model-specific ([MASK], <mask>): the snippet asks the tokenizer for it
    "fill-mask": TaskUsage("AutoModelForMaskedLM", "AutoTokenizer", "tokenizer",
                           'f"The government announced new {classifier.tokenizer.mask_token} today."'),
    "token-classification": TaskUsage("AutoModelForTokenClassification", "AutoTokenizer", "tokenizer",
                                      '"Replace this with a sentence whose words to tag."'),
    "question-answering": TaskUsage("AutoModelForQuestionAnswering", "AutoTokenizer", "tokenizer",
                                    'question="Who announced it?", context="The government announced it today."'),
    "text-generation": TaskUsage("AutoModelForCausalLM", "AutoTokenizer", "tokenizer",
                                 '"Replace this with your prompt.", max_new_tokens=32'),
}


def model_reference(config: RecipeConfig, repo_id: Optional[str] = None) -> str:
    """What the snippet loads: the Hub repo when known (argument, then ``hub.repo_id``), else the output dir."""
    return repo_id or config.hub.repo_id or config.output_dir


def base_reference(config: RecipeConfig) -> str:
    """The base model as the snippet names it: its Hub id when it has one, else the local directory."""
    return hub_model_id(config.model.name_or_path) or resolve_model_path(config.model.name_or_path)


def usage_snippet(run: RunRecord, model_id: str, merged: bool = False) -> str:
    """Python code that loads this output and runs one prediction."""
    task = run.task
    if task in PIPELINE_LESS:
        return PIPELINE_LESS[task](run, model_id, merged)
    usage = TASK_USAGE.get(task)
    if usage is None or not run.is_adapter or merged:
        example = usage.example_input if usage else '"..."'
        return (f"from transformers import pipeline\n\n"
                f'classifier = pipeline("{task}", model="{model_id}")\n'
                f"print(classifier({example}))\n")
    revision = f", revision={run.config.model.revision!r}" if run.config.model.revision else ""
    register = ("import hf_transfer_kit.adapters  # registers the bottleneck adapter method with PEFT\n"
                if run.peft_method == "BOTTLENECK" else "")
    labels = ", ".join(f'"{name}"' for name in run.label_names)
    return (
        f"from peft import PeftModel\n"
        f"from transformers import {usage.auto_class}, {usage.preprocessor_class}, pipeline\n"
        f"{register}\n"
        + (f"labels = [{labels}]\n"
           f"base = {usage.auto_class}.from_pretrained(\n"
           f'    "{base_reference(run.config)}"{revision}, num_labels=len(labels), id2label=dict(enumerate(labels)),\n'
           f"    label2id={{label: i for i, label in enumerate(labels)}}, ignore_mismatched_sizes=True)\n"
           if run.label_names else  # a span head (question answering) has no labels
           f'base = {usage.auto_class}.from_pretrained("{base_reference(run.config)}"{revision})\n')
        + f'model = PeftModel.from_pretrained(base, "{model_id}").eval()\n'
        f'{usage.preprocessor_arg} = {usage.preprocessor_class}.from_pretrained("{model_id}")\n'
        f'classifier = pipeline("{task}", model=model, {usage.preprocessor_arg}={usage.preprocessor_arg})\n'
        f"print(classifier({usage.example_input}))\n"
    )


def seq2seq_snippet(run: RunRecord, model_id: str, merged: bool = False) -> str:
    """transformers 5 has no text2text pipeline: load the model (and adapter) and call ``generate``."""
    revision = f", revision={run.config.model.revision!r}" if run.config.model.revision else ""
    if run.is_adapter and not merged:
        register = ("import hf_transfer_kit.adapters  # registers the bottleneck adapter method with PEFT\n"
                    if run.peft_method == "BOTTLENECK" else "")
        load = (f"from peft import PeftModel\n{register}\n"
                f'base = AutoModelForSeq2SeqLM.from_pretrained("{base_reference(run.config)}"{revision})\n'
                f'model = PeftModel.from_pretrained(base, "{model_id}").eval()\n')
    else:
        load = f'\nmodel = AutoModelForSeq2SeqLM.from_pretrained("{model_id}").eval()\n'
    return (f"from transformers import AutoModelForSeq2SeqLM, AutoTokenizer\n{load}"
            f'tokenizer = AutoTokenizer.from_pretrained("{model_id}")\n'
            f'inputs = tokenizer("Replace this with the source text.", return_tensors="pt")\n'
            f"output = model.generate(**inputs, max_new_tokens={run.config.data.max_new_tokens})\n"
            f"print(tokenizer.decode(output[0], skip_special_tokens=True))\n")


#: Tasks without a transformers pipeline: their own snippet builder.
PIPELINE_LESS = {"text2text-generation": seq2seq_snippet}

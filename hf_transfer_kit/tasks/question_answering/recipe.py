"""Extractive question answering (SQuAD-style) on any ``AutoModelForQuestionAnswering``.

The model scores every context token as the answer's start and end; long contexts are read in overlapping
windows (``data.doc_stride``), and post-processing picks the best valid span over all windows of a question
(:func:`hf_transfer_kit.data.qa.best_spans`). Scores are SQuAD v1.1 exact match and F1 (offline,
:mod:`.metrics`). Predictions use the same windows and post-processing and have the shape of
transformers' former ``pipeline("question-answering")`` (removed in transformers 5): ``{answer, score, start, end}``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from datasets import DatasetDict

from ...config import RecipeConfig
from ...data.qa import best_spans, check_question_room, prepare_features, prepare_qa_splits
from ...errors import ConfigError
from .metrics import squad_scores
from ...registry import register_task
from ..base import pretrained_kwargs
from ..text import TextRecipe
from .config import QuestionAnsweringDataConfig

#: Feature columns the model does not take; Trainer drops them, post-processing reads them.
BOOKKEEPING = ("example_id", "offset_mapping")


@register_task
class QuestionAnsweringRecipe(TextRecipe):
    """Fine-tune a pretrained encoder to extract the answer to a question from a passage."""

    task = "question-answering"
    data_config = QuestionAnsweringDataConfig
    auto_model = "AutoModelForQuestionAnswering"
    peft_task_type = "QUESTION_ANS"
    needs_fast_tokenizer = "answer spans are mapped back to the text through offset mappings"
    positions_hint = " (and a doc_stride below it)"
    main_metric = ("f1", True)
    card_metrics = {"exact_match": "Exact match (%)", "f1": "F1 (%)"}
    usage_example = 'question="Who announced it?", context="The government announced it today."'
    per_example_mean_loss = True  # (start CE + end CE) / 2, each a mean over examples

    def __init__(self, config: RecipeConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        data, training = self.config.data, self.config.training
        if data.doc_stride >= data.max_length:
            raise ConfigError("data.doc_stride", data.doc_stride, f"windows of data.max_length={data.max_length} "
                              "tokens must overlap by less than their length; use e.g. doc_stride=max_length/3 "
                              "(SQuAD: max_length 384, doc_stride 128).")
        if training.get("remove_unused_columns") is False:
            raise ConfigError("training.remove_unused_columns", False, "the windows carry bookkeeping columns "
                              f"({', '.join(BOOKKEEPING)}) the model does not take; remove the setting.")

    def load_data(self) -> tuple[Any, list[str]]:
        return prepare_qa_splits(self.config.data, seed=self.config.training.get("seed", 42),
                                 in_memory=self.in_memory), []

    @classmethod
    def build_model(cls, model_path: str, label_names: list[str], model_config: Any, preprocessor: Any) -> Any:
        return cls.model_class().from_pretrained(
            model_path, **pretrained_kwargs(model_config))

    def preprocess(self, splits: Any) -> Any:
        data = self.config.data
        kwargs = {"tokenizer": self.tokenizer, "max_length": data.max_length, "doc_stride": data.doc_stride}
        out = {}
        for split, ds in splits.items():
            check_question_room(ds, split, self.tokenizer, data.max_length, data.doc_stride)
            out[split] = ds.map(prepare_features, batched=True, with_indices=True, fn_kwargs=kwargs,
                                remove_columns=ds.column_names, desc=f"windows {split}")
        return DatasetDict(out)

    def data_collator(self) -> Any:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(self.tokenizer)

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        return self.scores(eval_pred.predictions, "validation")

    def answers(self, predictions: Any, split: str) -> list[dict[str, Any]]:
        """The best span of each example of ``split`` from the model's (start, end) logits over its windows."""
        start_logits, end_logits = predictions[:2]
        data = self.config.data
        return best_spans(self.splits[split]["context"], self.datasets[split], start_logits, end_logits, data.n_best,
                          data.max_answer_length)

    def scores(self, predictions: Any, split: str) -> dict[str, float]:
        found = [a["answer"] for a in self.answers(predictions, split)]
        return squad_scores(found, [a["text"] for a in self.splits[split]["answers"]])

    def final_evaluation(self, split: str) -> dict[str, Any]:
        self.trainer.compute_metrics = None  # the test windows are scored below, against the test examples
        try:
            output = self.trainer.predict(self.datasets[split], metric_key_prefix=split)
        finally:
            self.trainer.compute_metrics = lambda pred: self.scores(pred.predictions, "validation")
        metrics = {k.removeprefix(f"{split}_"): v for k, v in output.metrics.items()}
        metrics.update(self.scores(output.predictions, split))
        metrics["num_examples"] = len(self.splits[split])
        metrics["num_windows"] = len(self.datasets[split])
        return metrics

    def baselines(self) -> dict[str, float]:
        """The context's first word as the answer, and the pretrained model with its new, untrained span head."""
        test = self.splits["test"]
        first = squad_scores([(c.split() or [""])[0] for c in test["context"]], [a["text"] for a in test["answers"]])
        untrained = self.final_evaluation("test")
        return {"first_word_exact_match": first["exact_match"], "first_word_f1": first["f1"],
                "untrained_head_exact_match": untrained["exact_match"], "untrained_head_f1": untrained["f1"]}

    def predict(self, questions: list[str], contexts: list[str]) -> list[dict[str, Any]]:
        """Answer each question from its context with the model in memory: ``[{answer, score, start, end}]``."""
        return answerer(self.trained_model(), self.tokenizer, self.config)(questions, contexts)

    def resolved_config(self) -> RecipeConfig:
        return copy.deepcopy(self.config)  # no labels: the span head has two fixed outputs

    @classmethod
    def pipeline(cls, model: Any, preprocessor: Any, config: Any) -> Any:
        """transformers 5 has no question-answering pipeline: ours, with the same call and output."""
        return QuestionAnswerer(answerer(model, preprocessor, config))

    @classmethod
    def predict_saved(cls, run_dir: Any, model: Any, preprocessor: Any, config: Any, inputs: list[str],
                      **options: Any) -> list[dict[str, Any]]:
        """``inputs`` are questions, all answered from ``context`` (text, or the path of a text file)."""
        from pathlib import Path

        context = options.get("context")
        if not context:
            raise ConfigError("--context", None, "a question-answering run answers from a passage: give it with "
                              "--context TEXT (or --context FILE); the texts are the questions.")
        if Path(context).is_file():
            context = Path(context).read_text(encoding="utf-8")
        answers = answerer(model, preprocessor, config)(inputs, [context] * len(inputs))
        return [{"question": q[:80], **r} for q, r in zip(inputs, answers)]


def answerer(model: Any, tokenizer: Any, config: RecipeConfig, batch_size: int = 32) -> Any:
    """A callable mapping (questions, contexts) to ``[{answer, score, start, end}]`` with the run's windows and
    post-processing. Why not ``pipeline("question-answering")``: transformers 5 removed it; the output keeps its shape.
    """
    import torch
    from datasets import Dataset

    data = config.data

    @torch.inference_mode()
    def run(questions: list[str], contexts: list[str]) -> list[dict[str, Any]]:
        if len(questions) != len(contexts):
            raise ConfigError("contexts", len(contexts), f"{len(questions)} questions need as many contexts; give "
                              "one context per question (or the same one repeated).")
        examples = Dataset.from_dict({"question": list(questions), "context": list(contexts)})
        check_question_room(examples, "predict", tokenizer, data.max_length, data.doc_stride)
        windows = prepare_features(examples[:], list(range(len(examples))), tokenizer, data.max_length, data.doc_stride)
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        inputs = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in windows]
        starts, ends = [], []
        for i in range(0, len(windows["input_ids"]), batch_size):
            batch = tokenizer.pad({k: windows[k][i:i + batch_size] for k in inputs}, return_tensors="pt").to(device)
            output = model(**batch)
            width = data.max_length
            for logits, out in ((output.start_logits, starts), (output.end_logits, ends)):
                padded = torch.full((logits.shape[0], width), -100.0)
                padded[:, :logits.shape[1]] = logits.float().cpu()
                out.append(padded.numpy())
        model.train(was_training)
        return best_spans(list(contexts), windows, np.concatenate(starts), np.concatenate(ends), data.n_best,
                          data.max_answer_length)

    return run


class QuestionAnswerer:
    """``pipeline("question-answering")``'s call for a saved run: ``qa(question=..., context=...)`` (one dict, or a
    list for lists). transformers 5 removed that pipeline; the windows and post-processing are the run's own."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def __call__(self, question: str | list[str], context: str | list[str]) -> Any:
        single = isinstance(question, str)
        questions = [question] if single else list(question)
        contexts = [context] * len(questions) if isinstance(context, str) else list(context)
        results = self.answer(questions, contexts)
        return results[0] if single else results

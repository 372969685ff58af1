"""Text classification (single sentences or sentence pairs) on any ``AutoModelForSequenceClassification``:
one class per example, several (``model.problem_type: multi_label``) or a number (``regression``)."""

from __future__ import annotations

from typing import Any

from ...data import prepare_splits
from ...inference import classify, text_logits
from ...problems import head_config
from ...registry import register_task
from ..base import pretrained_kwargs
from ..problem_type import ProblemTypeMixin
from ..text import TextRecipe
from .config import TextClassificationDataConfig
from .pooled import PooledForSequenceClassification, resolve_pooling


@register_task
class TextClassificationRecipe(ProblemTypeMixin, TextRecipe):
    """Fine-tune a pretrained text encoder (or decoder) for a new set of labels: task transfer."""

    task = "text-classification"
    data_config = TextClassificationDataConfig
    auto_model = "AutoModelForSequenceClassification"
    peft_task_type = "SEQ_CLS"
    usage_example = '"Replace this with the text to classify."'

    def raw_splits(self) -> tuple[Any, list[str]]:
        return prepare_splits(self.config.data, seed=self.config.training.get("seed", 42),
                              num_labels=self.config.model.num_labels, in_memory=self.in_memory,
                              problem_type=self.config.model.problem_type)

    @classmethod
    def saved_logits(cls, model: Any, preprocessor: Any, config: Any, examples: Any) -> Any:
        data = config.data
        pairs = list(examples[data.text_pair_column]) if data.text_pair_column else None
        return text_logits(model, preprocessor, list(examples[data.text_column]), pairs, data.max_length, 64)

    @classmethod
    def predict_rows(cls, model: Any, preprocessor: Any, config: Any, inputs: list[str], decode: Any) -> list[dict]:
        results = classify(model, preprocessor, inputs, max_length=config.data.max_length, decode=decode)
        return [{"text": text[:80], **result} for text, result in zip(inputs, results)]

    @classmethod
    def build_model(cls, model_path: str, label_names: list[str], model_config: Any, preprocessor: Any) -> Any:
        if model_config.pooling in ("mean", "cls"):  # read the encoder as it was trained to be read: pooled.py
            model = PooledForSequenceClassification.from_encoder(
                model_path, model_config.pooling, head_config(model_config.problem_type, label_names),
                **pretrained_kwargs(model_config))
        else:
            model = cls.model_class().from_pretrained(
                model_path, **head_config(model_config.problem_type, label_names), ignore_mismatched_sizes=True,
                **pretrained_kwargs(model_config, cls.model_class(), model_path))
        if getattr(model.config, "pad_token_id", None) is None:
            model.config.pad_token_id = preprocessor.pad_token_id
        return model

    def load_model(self, model_path: str, label_names: list[str]) -> Any:
        model = self.config.model
        pooling = resolve_pooling(model.pooling, self.config.strategy.name, model_path, model.revision)
        if pooling in ("mean", "cls"):  # the saved config names the pooled head; 'auto' that kept the model's stays
            model.pooling = pooling
        return super().load_model(model_path, label_names)

    def preprocess(self, splits: Any) -> Any:
        data = self.config.data
        tokenizer = self.tokenizer

        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            pair = batch[data.text_pair_column] if data.text_pair_column else None
            return tokenizer(batch[data.text_column], pair, truncation=True, max_length=data.max_length)

        return splits.map(tokenize, batched=True, remove_columns=[c for c in splits["train"].column_names
                                                                  if c != "label"], desc="tokenize")

    def data_collator(self) -> Any:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(self.tokenizer)  # dynamic padding: pad to the longest in each batch

    def predict(self, texts: list[str], text_pairs: list[str] | None = None) -> list[dict[str, Any]]:
        """Classify new texts with the model in memory (see :func:`hf_transfer_kit.load_for_inference`)."""
        return classify(self.trained_model(), self.tokenizer, texts, text_pairs, max_length=self.config.data.max_length,
                        decode=self.problem.decode)

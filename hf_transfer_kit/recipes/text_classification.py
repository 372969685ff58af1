"""Text classification (single sentences or sentence pairs) on any ``AutoModelForSequenceClassification``."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ..data import prepare_splits
from ..errors import ConfigError
from ..metrics import classification_metrics, confusion_matrix
from .base import Recipe


class TextClassificationRecipe(Recipe):
    """Fine-tune a pretrained text encoder (or decoder) for a new set of labels: task transfer."""

    task = "text-classification"
    peft_task_type = "SEQ_CLS"

    def load_data(self) -> tuple[Any, list[str]]:
        return prepare_splits(self.config.data, seed=self.config.training.get("seed", 42),
                              num_labels=self.config.model.num_labels, in_memory=self.in_memory)

    def load_preprocessor(self, model_path: str) -> Any:
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(model_path, revision=self.config.model.revision,
                                                      trust_remote_code=self.config.model.trust_remote_code)
        except (OSError, ValueError) as err:  # no tokenizer files, or a checkpoint of another modality
            raise ConfigError("model.name_or_path", self.config.model.name_or_path,
                              f"could not load a tokenizer ({str(err).splitlines()[0][:200]}); use a text model id or "
                              "a directory that holds its tokenizer files.") from err
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token  # decoder-only models ship without a pad token
        return tokenizer

    @classmethod
    def build_model(cls, model_path: str, label_names: list[str], model_config: Any, preprocessor: Any) -> Any:
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(
            model_path, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)}, ignore_mismatched_sizes=True,
            revision=model_config.revision, trust_remote_code=model_config.trust_remote_code,
            use_safetensors=None if model_config.allow_pickle else True)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = preprocessor.pad_token_id
        return model

    def load_model(self, model_path: str, label_names: list[str]) -> Any:
        model = super().load_model(model_path, label_names)
        positions = getattr(model.config, "max_position_embeddings", None)
        max_length = self.config.data.max_length
        if positions is not None and max_length > positions and self.tokenizer.model_max_length > positions:
            # Tokens past the position table crash inside the first forward pass; say so now.
            raise ConfigError("data.max_length", max_length, f"the model has {positions} positions; use "
                              f"data.max_length={positions} or less.")
        return model

    @classmethod
    def load_saved_model(cls, directory: str) -> Any:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(directory)

    @classmethod
    def load_saved_preprocessor(cls, directory: str) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(directory)

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

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        return classification_metrics(eval_pred.predictions, eval_pred.label_ids)

    def final_evaluation(self, split: str) -> dict[str, Any]:
        output = self.trainer.predict(self.datasets[split], metric_key_prefix=split)
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        metrics = {k.removeprefix(f"{split}_"): v for k, v in output.metrics.items()}
        metrics["confusion_matrix"] = confusion_matrix(np.argmax(logits, -1), output.label_ids, len(self.label_names))
        metrics["label_names"] = list(self.label_names)
        metrics["num_examples"] = len(self.datasets[split])
        return metrics

    def baselines(self) -> dict[str, float]:
        """Majority class of the training labels, and the pretrained model with its new, untrained head."""
        majority, _ = Counter(self.splits["train"]["label"]).most_common(1)[0]
        test_labels = np.asarray(self.splits["test"]["label"])
        untrained = self.trainer.evaluate(self.datasets["test"], metric_key_prefix="baseline")
        return {"majority_class_accuracy": float(np.mean(test_labels == majority)),
                "untrained_head_accuracy": float(untrained["baseline_accuracy"]),
                "untrained_head_loss": float(untrained["baseline_loss"])}

    def predict(self, texts: list[str], text_pairs: list[str] | None = None) -> list[dict[str, Any]]:
        """Classify new texts with the model in memory (see :func:`hf_transfer_kit.load_for_inference`)."""
        from ..inference import classify

        return classify(self.trained_model(), self.tokenizer, texts, text_pairs, max_length=self.config.data.max_length)

"""Text classification (single sentences or sentence pairs) on any ``AutoModelForSequenceClassification``:
one class per example, several (``model.problem_type: multi_label``) or a number (``regression``)."""

from __future__ import annotations

from typing import Any

from ..data import prepare_splits
from ..errors import ConfigError
from ..problems import head_config
from .base import Recipe, pretrained_kwargs
from .problem_type import ProblemTypeMixin


class TextClassificationRecipe(ProblemTypeMixin, Recipe):
    """Fine-tune a pretrained text encoder (or decoder) for a new set of labels: task transfer."""

    task = "text-classification"
    peft_task_type = "SEQ_CLS"

    def load_data(self) -> tuple[Any, list[str]]:
        splits, names = prepare_splits(self.config.data, seed=self.config.training.get("seed", 42),
                                       num_labels=self.config.model.num_labels, in_memory=self.in_memory,
                                       problem_type=self.config.model.problem_type)
        return self.problem.prepare(splits), names

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
            model_path, **head_config(model_config.problem_type, label_names), ignore_mismatched_sizes=True,
            **pretrained_kwargs(model_config))
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

    def predict(self, texts: list[str], text_pairs: list[str] | None = None) -> list[dict[str, Any]]:
        """Classify new texts with the model in memory (see :func:`hf_transfer_kit.load_for_inference`)."""
        from ..inference import classify

        return classify(self.trained_model(), self.tokenizer, texts, text_pairs, max_length=self.config.data.max_length,
                        decode=self.problem.decode)

"""Task pair-match: a sentence-pair classifier (match / no match) on any AutoModelForSequenceClassification.

Everything the kit needs to know about the task is answered here: the Auto classes, the data section, the metrics
and template of the card, how a saved run predicts (``hf-transfer-kit predict RUN "first ||| second"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from datasets import ClassLabel

from hf_transfer_kit.data.splits import carve_splits, check_splits, require_columns
from hf_transfer_kit.data.files import load_raw
from hf_transfer_kit.registry import register_task
from hf_transfer_kit.tasks.base import pretrained_kwargs
from hf_transfer_kit.tasks.text import TextRecipe

from .config import PairMatchDataConfig

LABELS = ["no_match", "match"]
SEPARATOR = " ||| "


@register_task
class PairMatchRecipe(TextRecipe):
    """Fine-tune a text encoder to tell whether two sentences match."""

    task = "pair-match"
    pipeline_task = "text-classification"
    data_config = PairMatchDataConfig
    auto_model = "AutoModelForSequenceClassification"
    peft_task_type = "SEQ_CLS"
    card_metrics = {"accuracy": "Accuracy"}
    usage_example = '{"text": "The first sentence.", "text_pair": "The second one."}'

    def load_data(self) -> tuple[Any, list[str]]:
        data = self.config.data
        raw = load_raw(data, self.in_memory)
        check_splits(raw, data)
        require_columns(raw, {"data.first_column": data.first_column, "data.second_column": data.second_column,
                              "data.match_column": data.match_column})
        encoded = {}
        for split, ds in raw.items():
            labels = [int(str(v).lower() in ("1", "true", "yes", "match")) for v in ds[data.match_column]]
            ds = ds.remove_columns(data.match_column).add_column("label", labels)
            encoded[split] = ds.cast_column("label", ClassLabel(names=LABELS))
        return carve_splits(encoded, data, self.config.training.get("seed", 42)), list(LABELS)

    @classmethod
    def build_model(cls, model_path: str, label_names: list[str], model_config: Any, preprocessor: Any) -> Any:
        return cls.model_class().from_pretrained(
            model_path, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)}, ignore_mismatched_sizes=True,
            **pretrained_kwargs(model_config))

    def preprocess(self, splits: Any) -> Any:
        data, tokenizer = self.config.data, self.tokenizer

        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            return tokenizer(batch[data.first_column], batch[data.second_column], truncation=True,
                             max_length=data.max_length)

        return splits.map(tokenize, batched=True, desc="tokenize pairs",
                          remove_columns=[c for c in splits["train"].column_names if c != "label"])

    def data_collator(self) -> Any:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(self.tokenizer)

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        return {"accuracy": float((np.asarray(logits).argmax(-1) == np.asarray(eval_pred.label_ids)).mean())}

    def final_evaluation(self, split: str) -> dict[str, Any]:
        metrics = self.trainer.evaluate(self.datasets[split], metric_key_prefix=split)
        return {**{k.removeprefix(f"{split}_"): v for k, v in metrics.items()}, "label_names": list(LABELS),
                "num_examples": len(self.datasets[split])}

    def baselines(self) -> dict[str, float]:
        labels = np.asarray(self.splits["train"]["label"])
        majority = int(np.bincount(labels, minlength=2).argmax())
        return {"majority_accuracy": float((np.asarray(self.splits["test"]["label"]) == majority).mean())}

    @classmethod
    def predict_saved(cls, run_dir: Any, model: Any, preprocessor: Any, config: Any, inputs: list[str],
                      **options: Any) -> list[dict[str, Any]]:
        pipe = cls.pipeline(model, preprocessor, config)
        pairs = [dict(zip(("text", "text_pair"), text.split(SEPARATOR, 1))) for text in inputs]
        return [{"input": text[:80], **pipe(pair)} for text, pair in zip(inputs, pairs)]

"""Token classification (NER, chunking, POS tagging) on any ``AutoModelForTokenClassification``.

Words arrive pre-split with one tag each; the tokenizer cuts words into sub-tokens, so tags are aligned to them
(``data.label_alignment``: the first piece only, or every piece) and special tokens are ignored (-100).
Evaluation always scores one tag per word (the first piece's), so 'first' and 'all' runs compare: entity-level
precision / recall / F1 with seqeval's rules for IOB / BIOES tags (offline, :mod:`.metrics`),
token accuracy and macro F1 over tags for other tag sets (POS). Predictions come from transformers'
``pipeline("token-classification")`` on the trained model, so they have its familiar shape.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ...data.tokens import IGNORE, continuation_ids, prepare_token_splits, tokenize_and_align
from ...metrics import load_metric
from ...problems.class_weights import FOURTH_ROOT_INVERSE, ClassWeightsMixin
from .metrics import entity_scores, is_entity_scheme
from ...registry import register_task
from ..base import pretrained_kwargs
from ..text import TextRecipe
from .config import TokenClassificationDataConfig

#: The pipeline's word grouping that matches how each alignment was trained.
AGGREGATION = {"first": "first", "all": "average"}


def word_level(logits: Any, label_ids: Any) -> tuple[list[list[int]], list[list[int]]]:
    """(gold, predicted) tag ids of the scored positions (label != -100) of each row: one per word."""
    logits = logits[0] if isinstance(logits, tuple) else logits
    predicted = np.asarray(logits).argmax(-1)
    gold, found = [], []
    for labels, preds in zip(np.asarray(label_ids), predicted):
        keep = labels != IGNORE
        gold.append(labels[keep].tolist())
        found.append(preds[keep].tolist())
    return gold, found


def tagging_scores(gold: list[list[int]], found: list[list[int]], names: list[str]) -> dict[str, Any]:
    """Entity P/R/F1 (+ per type) for IOB / BIOES tag sets; token accuracy and macro P/R/F1 over tags otherwise."""
    if is_entity_scheme(names):
        return entity_scores([[names[t] for t in row] for row in gold], [[names[t] for t in row] for row in found])
    flat_gold = [t for row in gold for t in row]
    flat_found = [t for row in found for t in row]
    scores = load_metric("classification").compute(predictions=flat_found, references=flat_gold)
    return {**scores, "macro_f1": scores["f1"]}  # macro over tags already


@register_task
class TokenClassificationRecipe(ClassWeightsMixin, TextRecipe):
    """Fine-tune a pretrained encoder to tag every word (named entities, chunks, parts of speech)."""

    task = "token-classification"
    data_config = TokenClassificationDataConfig
    auto_model = "AutoModelForTokenClassification"
    peft_task_type = "TOKEN_CLS"
    needs_fast_tokenizer = "tag alignment needs the word of every sub-token"
    main_metric = ("f1", True)
    card_metrics = {"f1": "F1 (entities, micro)", "macro_f1": "F1 (entities, macro over types)",
                    "precision": "Precision (entities, micro)", "recall": "Recall (entities, micro)",
                    "accuracy": "Accuracy (tokens)"}
    #: Tag sets that are not IOB / BIOES (POS) are scored per tag: accuracy and macro P / R / F1 over tags.
    tag_metrics = {"accuracy": "Accuracy (tags)", "f1": "F1 (macro over tags)",
                   "precision": "Precision (macro over tags)", "recall": "Recall (macro over tags)"}
    usage_example = '"Replace this with a sentence whose words to tag."'
    #: ``model.class_weights: auto`` counts the tags the loss sees and weights them by the fourth root of inverse
    #: frequency: 'O' outnumbers the rarest tag by thousands to one in NER (measured: problems/class_weights.py).
    class_weight_power = FOURTH_ROOT_INVERSE
    class_weight_unit = "tokens"

    @classmethod
    def result_metrics(cls, config: Any) -> dict[str, str]:
        names = list(config.data.label_names or [])
        return dict(cls.tag_metrics if names and not is_entity_scheme(names) else cls.card_metrics)

    def load_data(self) -> tuple[Any, list[str]]:
        splits, names = prepare_token_splits(self.config.data, seed=self.config.training.get("seed", 42),
                                             in_memory=self.in_memory)
        self.check_class_weights(names)  # a list of the wrong length fails as soon as the tags are known
        return splits, names

    def training_label_counts(self) -> list[int]:
        """Tag counts over the training tokens as aligned for the loss (-100: specials, ignored pieces)."""
        labels = np.fromiter((t for row in self.datasets["train"]["labels"] for t in row), dtype=np.int64)
        return np.bincount(labels[labels != IGNORE], minlength=len(self.label_names)).tolist()

    def load_preprocessor(self, model_path: str) -> Any:
        tokenizer = super().load_preprocessor(model_path)
        if getattr(tokenizer, "add_prefix_space", None) is False:
            # byte-level BPE (RoBERTa, GPT-2) refuses pre-split words unless each gets its leading space back
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(model_path, add_prefix_space=True,
                                                      revision=self.config.model.revision,
                                                      trust_remote_code=self.config.model.trust_remote_code)
        return tokenizer

    @classmethod
    def build_model(cls, model_path: str, label_names: list[str], model_config: Any, preprocessor: Any) -> Any:
        return cls.model_class().from_pretrained(
            model_path, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)}, ignore_mismatched_sizes=True,
            **pretrained_kwargs(model_config, cls.model_class(), model_path))

    def preprocess(self, splits: Any) -> Any:
        data = self.config.data
        continuation = continuation_ids(self.label_names)
        out = {}
        for split, ds in splits.items():
            # training follows label_alignment; evaluation scores each word once, on its first piece
            alignment = data.label_alignment if split == "train" else "first"
            out[split] = ds.map(tokenize_and_align, batched=True, remove_columns=ds.column_names, desc=f"tokenize {split}",
                                fn_kwargs={"tokenizer": self.tokenizer, "max_length": data.max_length,
                                           "alignment": alignment, "continuation": continuation})
        cut = sum(sum(1 for t in labels if t != IGNORE) < len(words)
                  for labels, words in zip(out["test"]["labels"], splits["test"]["tokens"]))
        if cut and self.args.process_index == 0:
            print(f"[hf_transfer_kit] {cut} test example(s) are longer than data.max_length={data.max_length} "
                  "tokens; their last words are neither tagged nor scored (raise data.max_length).", flush=True)
        from datasets import DatasetDict

        return DatasetDict(out)

    def data_collator(self) -> Any:
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(self.tokenizer)  # pads labels with -100

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        gold, found = word_level(eval_pred.predictions, eval_pred.label_ids)
        scores = tagging_scores(gold, found, self.label_names)
        return {k: v for k, v in scores.items() if k != "per_type"}  # Trainer logs scalars only

    def final_evaluation(self, split: str) -> dict[str, Any]:
        output = self.trainer.predict(self.datasets[split], metric_key_prefix=split)
        metrics = {k.removeprefix(f"{split}_"): v for k, v in output.metrics.items()}
        gold, found = word_level(output.predictions, output.label_ids)
        scores = tagging_scores(gold, found, self.label_names)
        if "per_type" in scores:
            metrics["per_type"] = scores["per_type"]
        metrics["label_names"] = list(self.label_names)
        metrics["num_examples"] = len(self.datasets[split])
        metrics["num_words"] = sum(len(row) for row in gold)
        return metrics

    def baselines(self) -> dict[str, float]:
        """The most frequent training tag on every word (all-'O' for NER: entity F1 0), and the pretrained model
        with its new, untrained head."""
        majority, _ = Counter(t for row in self.splits["train"]["tags"] for t in row).most_common(1)[0]
        gold = self.splits["test"]["tags"]
        constant = tagging_scores(gold, [[majority] * len(row) for row in gold], self.label_names)
        untrained = self.trainer.evaluate(self.datasets["test"], metric_key_prefix="baseline")
        return {"majority_tag": self.label_names[majority], "majority_tag_accuracy": float(constant["accuracy"]),
                "majority_tag_f1": float(constant["f1"]), "untrained_head_f1": float(untrained["baseline_f1"]),
                "untrained_head_accuracy": float(untrained["baseline_accuracy"])}

    def predict(self, texts: list[str]) -> list[list[dict[str, Any]]]:
        """Entities (or tags) in new texts with the model in memory, as ``pipeline("token-classification")``."""
        return tagger(self.trained_model(), self.tokenizer, self.config)(texts)

    @classmethod
    def pipeline(cls, model: Any, preprocessor: Any, config: Any) -> Any:
        """``pipeline("token-classification")`` grouping words the way the run aligned their tags."""
        from transformers import pipeline

        return pipeline("token-classification", model=model, tokenizer=preprocessor,
                        aggregation_strategy=AGGREGATION[config.data.label_alignment])

    @classmethod
    def predict_saved(cls, run_dir: Any, model: Any, preprocessor: Any, config: Any, inputs: list[str],
                      **options: Any) -> list[dict[str, Any]]:
        return [{"text": text[:80], "entities": entities}
                for text, entities in zip(inputs, tagger(model, preprocessor, config)(inputs))]


def tagger(model: Any, tokenizer: Any, config: Any) -> Any:
    """``pipeline("token-classification")`` grouping words the way the run was trained; returns a callable that
    maps a list of texts to a list of entity lists."""
    pipe = TokenClassificationRecipe.pipeline(model, tokenizer, config)

    def run(texts: list[str]) -> list[list[dict[str, Any]]]:
        results = pipe(list(texts))
        return [[{**e, "score": float(e["score"])} for e in entities] for entities in results]

    return run

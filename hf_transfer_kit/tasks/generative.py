"""What causal-LM and seq2seq fine-tuning share: pairs of texts in, generated text out.

The data is (input, answer) pairs; the loss is on the answer tokens only; evaluation reports the perplexity of the
answers, then generates greedily and scores the generations against the references (exact match, ROUGE-L). The
same scores for the model *before* training are the baselines, so a run shows what fine-tuning changed.
Subclasses pick the model class, the data columns and how a pair becomes tokens.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from ..config import RecipeConfig
from ..config.schema import DataConfig
from ..errors import ConfigError
from ..generation.data import INPUT, OUTPUT, end_token_id, load_pairs
from ..generation.evaluate import answer_loss, generate
from ..metrics.generation import generation_metrics, perplexity
from .base import pretrained_kwargs
from .generative_config import GenerationDataConfig
from .text import TextRecipe

#: Generated examples written into metrics.json (with their prompt and reference) for a human to read.
SHOWN_SAMPLES = 5


class GenerativeRecipe(TextRecipe):
    """Base for recipes whose model generates text; see :class:`CausalLMRecipe` and :class:`Seq2SeqRecipe`."""

    data_config: ClassVar[type] = GenerationDataConfig
    # greedy outputs against the references, and the references' perplexity (answer tokens)
    card_metrics: ClassVar[dict[str, str]] = {"exact_match": "Exact match", "rougeL": "ROUGE-L (F1)",
                                              "perplexity": "Perplexity"}
    #: {parameter: DataConfig field} of the input and answer columns, in that order.
    column_params: ClassVar[dict[str, str]]
    loss_only = True
    per_example_mean_loss = False  # the loss is a mean over answer tokens: Trainer's token averaging is right

    # ---- data ---------------------------------------------------------------------------------------------------
    def columns(self) -> dict[str, str]:
        return {param: getattr(self.config.data, name) for param, name in self.column_params.items()}

    def load_data(self) -> tuple[Any, list[str]]:
        seed = self.config.training.get("seed", 42)
        return load_pairs(self.config.data, self.columns(), seed, self.in_memory), []

    def load_preprocessor(self, model_path: str) -> Any:
        tokenizer = super().load_preprocessor(model_path)  # same loading, errors, pad token
        tokenizer.padding_side = "right"  # training batches; generation pads prompts on the left itself
        end_token_id(tokenizer, self.config.model.name_or_path)  # no end token: refused before the model loads
        return tokenizer

    def data_collator(self) -> Any:
        from transformers import DataCollatorForSeq2Seq

        # pads input_ids / attention_mask with the tokenizer's pad token and labels with -100 (dynamic padding)
        return DataCollatorForSeq2Seq(self.tokenizer, label_pad_token_id=-100)

    @classmethod
    def generation_inputs(cls, tokenizer: Any, data: DataConfig, texts: list[str]) -> list[list[int]]:
        """Token ids the model generates from, one list per input text (formatted exactly as in training)."""
        raise NotImplementedError

    @classmethod
    def generate_answers(cls, model: Any, tokenizer: Any, config: RecipeConfig, texts: list[str],
                         batch_size: int = 16) -> list[str]:
        """Greedy answers (at most ``data.max_new_tokens`` tokens) for ``texts``; used in evaluation and predict."""
        end = end_token_id(tokenizer, config.model.name_or_path)
        return generate(model, tokenizer, cls.generation_inputs(tokenizer, config.data, texts),
                        config.data.max_new_tokens, end, batch_size)

    # ---- model --------------------------------------------------------------------------------------------------
    @classmethod
    def build_model(cls, model_path: str, label_names: list[str], model_config: Any, preprocessor: Any) -> Any:
        try:
            model = cls.model_class().from_pretrained(model_path, **pretrained_kwargs(model_config, cls.model_class(),
                                                                                      model_path))
        except ValueError as err:
            if "Unrecognized configuration class" not in str(err):
                raise
            raise ConfigError("model.name_or_path", model_config.name_or_path, f"this architecture has no "
                              f"{cls.auto_model} model in transformers; {cls.model_hint}") from err
        if model.config.pad_token_id is None:
            model.config.pad_token_id = preprocessor.pad_token_id
        return model

    #: What to use instead when the checkpoint is the wrong kind of model.
    model_hint: ClassVar[str] = ""

    # ---- evaluation ---------------------------------------------------------------------------------------------
    def score(self, model: Any, split: str) -> dict[str, Any]:
        """Perplexity of the answers, then greedy generation scored against them."""
        batch_size = int(self.config.training.get("per_device_eval_batch_size", 16))
        loss, tokens = answer_loss(model, self.datasets[split], self.data_collator(), batch_size)
        raw = self.splits[split]
        texts, references = list(raw[INPUT]), list(raw[OUTPUT])
        predictions = self.generate_answers(model, self.tokenizer, self.config, texts, batch_size)
        samples = [{"input": text[:300], "reference": ref, "prediction": pred}
                   for text, ref, pred in list(zip(texts, references, predictions))[:SHOWN_SAMPLES]]
        return {"loss": loss, "perplexity": perplexity(loss), **generation_metrics(predictions, references),
                "num_examples": len(raw), "num_answer_tokens": tokens, "max_new_tokens": self.config.data.max_new_tokens,
                "samples": samples}

    def final_evaluation(self, split: str) -> dict[str, Any]:
        return self.score(self.trained_model(), split)

    def baselines(self) -> dict[str, Any]:
        """The same scores for the model before this training (adapters start as the identity)."""
        before = self.score(self.trained_model(), "test")
        return {f"pretrained_{key}": before[key] for key in ("loss", "perplexity", "exact_match", "rougeL")}

    @classmethod
    def evaluate_saved(cls, run_dir: Any, model: Any, preprocessor: Any, config: RecipeConfig,
                       file: str | None = None, max_samples: int | None = None) -> dict[str, Any]:
        """A saved run's scores on its own test split, or on every example of ``file`` (``hf-transfer-kit evaluate``):
        perplexity, exact match and ROUGE-L of fresh generations."""
        recipe = cls(config)
        recipe.config.data = recipe.config.data.scoring(file, max_samples)
        if not file and not recipe.has_data_source():
            raise ConfigError("--file", None, "this run was trained on in-memory data, so it has no test split to "
                              "re-score; give the pairs to score with --file pairs.jsonl (csv / json / parquet).")
        recipe.tokenizer = preprocessor
        recipe.splits = recipe.load_data()[0]
        recipe.datasets = recipe.preprocess(recipe.splits)
        return recipe.score(model, "test")

    # ---- prediction and output ----------------------------------------------------------------------------------
    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """Generate an answer for each text with the model in memory (see also ``hf-transfer-kit predict``)."""
        answers = self.generate_answers(self.trained_model(), self.tokenizer, self.config, texts)
        return [{"generated_text": text} for text in answers]

    @classmethod
    def predict_saved(cls, run_dir: Any, model: Any, preprocessor: Any, config: RecipeConfig, inputs: list[str],
                      **options: Any) -> list[dict[str, Any]]:
        """Greedy generation, at most data.max_new_tokens tokens, prompts formatted exactly as in training."""
        answers = cls.generate_answers(model, preprocessor, config, inputs)
        return [{"text": text[:80], "generated_text": answer} for text, answer in zip(inputs, answers)]

    def resolved_config(self) -> RecipeConfig:
        return copy.deepcopy(self.config)  # no labels to record: the columns and template are in the config

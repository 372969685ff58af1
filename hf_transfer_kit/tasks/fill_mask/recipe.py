"""Continued masked-LM pretraining on unlabelled in-domain text: domain transfer, the flow's first step.

A model pretrained on general text (Wikipedia, web pages, sentence pairs) is trained further, with its own
pretraining objective, on text of the target domain (news, law, clinical notes...), before it is fine-tuned
for a task there with few labels (Gururangan et al., 2020, "Don't Stop Pretraining"). The output is a plain
``AutoModelForMaskedLM`` checkpoint: point a fine-tuning recipe's ``model.name_or_path`` at it.

A checkpoint saved without its MLM head (sentence-transformers models such as ``builtin:all-MiniLM-L6-v2``
ship only the encoder) gets a newly initialised head; the run says so and counts its parameters in the
baselines. The word-embedding matrix doubles as the output projection (tied weights), so only the head's
small transform and bias start from scratch.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from ...carry_over import carry_over
from ...config import RecipeConfig
from ...data.corpus import prepare_corpus
from ...data.masking import MaskedLMCollator, mask_once, tokenize_corpus
from ...errors import ConfigError
from ...metrics.generation import perplexity
from ...registry import register_task
from ...strategies import STRATEGIES
from ..base import pretrained_kwargs
from ..text import TextRecipe, check_positions
from .config import FillMaskDataConfig



@register_task
class MaskedLMPretrainRecipe(TextRecipe):
    """Continue masked-language-model pretraining of an encoder (BERT, RoBERTa, MiniLM...) on unlabelled text."""

    task = "fill-mask"
    #: Other ``task:`` names that select this recipe.
    aliases: ClassVar[tuple[str, ...]] = ("pretrain",)
    data_config = FillMaskDataConfig
    auto_model = "AutoModelForMaskedLM"
    card_metrics = {"perplexity": "Perplexity"}
    # the mask token is model-specific ([MASK], <mask>): the snippet asks the tokenizer for it
    usage_example = 'f"The government announced new {classifier.tokenizer.mask_token} today."'
    peft_task_type = None  # PEFT has no masked-LM task type (and adapters are refused: see __init__)
    loss_only = True
    per_example_mean_loss = False  # the loss is a mean over masked tokens: Trainer's token averaging is right

    def __init__(self, config: RecipeConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        strategy = self.config.strategy
        if STRATEGIES[strategy.name].saves_adapter:
            # The output is what fine-tuning starts from, so it must be a plain checkpoint with an updated encoder;
            # an adapter would also have to train a copy of the (tied) vocabulary projection as `modules_to_save`.
            raise ConfigError("strategy.name", strategy.name, "continued pretraining updates the encoder itself; use "
                              "full, or partial (e.g. freeze_embeddings: true, freeze_bottom_layers: 2) to train less, "
                              "and apply adapters when fine-tuning the pretrained output.")
        training = self.config.training
        if training.get("remove_unused_columns") is True:
            raise ConfigError("training.remove_unused_columns", True, "the masking collator reads columns the model "
                              "does not take (special_tokens_mask, offset_mapping); remove the setting.")
        training["remove_unused_columns"] = False
        self.new_head_parameters = 0
        self.base_path, self.unused_base_keys = "", []

    # ---- data ---------------------------------------------------------------------------------
    def load_data(self) -> tuple[Any, list[str]]:
        splits = prepare_corpus(self.config.data, seed=self.config.training.get("seed", 42), in_memory=self.in_memory)
        return splits, []

    def load_preprocessor(self, model_path: str) -> Any:
        tokenizer = super().load_preprocessor(model_path)  # same loading and errors
        if tokenizer.mask_token is None:
            raise ConfigError("model.name_or_path", self.config.model.name_or_path, "its tokenizer has no mask token, "
                              "so it was not pretrained with masked-LM; use an encoder such as BERT, RoBERTa or "
                              "builtin:all-MiniLM-L6-v2.")
        if self.config.data.whole_word_masking and not tokenizer.is_fast:
            raise ConfigError("data.whole_word_masking", True, "needs a fast (Rust) tokenizer for the word offsets; "
                              "this model has only a slow one: set data.whole_word_masking=false.")
        return tokenizer

    def preprocess(self, splits: Any) -> Any:
        data = self.config.data
        tokenized = tokenize_corpus(splits, self.tokenizer, data.max_length, data.group_texts, data.whole_word_masking)
        seed = self.config.training.get("seed", 42)
        for split in ("validation", "test"):  # fixed masks: before/after perplexities compare the same tokens
            tokenized[split] = mask_once(tokenized[split], self.collator(seed=seed))
        return tokenized

    def collator(self, seed: int | None = None) -> MaskedLMCollator:
        data = self.config.data
        return MaskedLMCollator(self.tokenizer, data.mlm_probability, data.whole_word_masking, seed)

    def data_collator(self) -> Any:
        return self.collator()

    # ---- model --------------------------------------------------------------------------------
    @classmethod
    def load_with_info(cls, model_path: str, model_config: Any) -> tuple[Any, dict[str, Any]]:
        try:
            return cls.model_class().from_pretrained(
                model_path, **pretrained_kwargs(model_config), output_loading_info=True)
        except ValueError as err:
            if "Unrecognized configuration class" not in str(err):
                raise
            raise ConfigError("model.name_or_path", model_config.name_or_path, "this architecture has no masked-LM "
                              "head in transformers (decoder-only models are pretrained causally); use an encoder "
                              "such as BERT, RoBERTa or builtin:all-MiniLM-L6-v2.") from err

    @classmethod
    def build_model(cls, model_path: str, label_names: list[str], model_config: Any, preprocessor: Any) -> Any:
        return cls.load_with_info(model_path, model_config)[0]

    def load_model(self, model_path: str, label_names: list[str]) -> Any:
        model, info = self.load_with_info(model_path, self.config.model)
        check_positions(model, self.config.data.max_length, " (it is the block length of packed text)")
        self.base_path, self.unused_base_keys = model_path, sorted(info.get("unexpected_keys", ()))
        params = dict(model.named_parameters())
        fresh = sorted(k for k in info.get("missing_keys", ()) if k in params)
        self.new_head_parameters = sum(params[k].numel() for k in fresh)
        if fresh and self.args.process_index == 0:
            print(f"[hf_transfer_kit] {self.config.model.name_or_path} has no masked-LM head weights: "
                  f"{self.new_head_parameters:,} parameters newly initialised ({', '.join(fresh)})", flush=True)
        return model

    # ---- training and evaluation -------------------------------------------------------------
    def final_evaluation(self, split: str) -> dict[str, Any]:
        metrics = self.trainer.evaluate(self.datasets[split], metric_key_prefix=split)
        loss = float(metrics[f"{split}_loss"])
        masked = sum(sum(1 for t in row if t != -100) for row in self.datasets[split]["labels"])
        return {"loss": loss, "perplexity": perplexity(loss), "num_examples": len(self.datasets[split]),
                "num_masked_tokens": masked, "max_length": self.config.data.max_length}

    def baselines(self) -> dict[str, float]:
        """The model before this training, on the same masked test tokens (with a new head, near-random)."""
        before = self.trainer.evaluate(self.datasets["test"], metric_key_prefix="baseline")
        loss = float(before["baseline_loss"])
        return {"pretrained_loss": loss, "pretrained_perplexity": perplexity(loss),
                "new_head_parameters": self.new_head_parameters}

    # ---- a saved run ------------------------------------------------------------------------------
    @classmethod
    def predict_saved(cls, run_dir: Any, model: Any, preprocessor: Any, config: RecipeConfig, inputs: list[str],
                      **options: Any) -> list[dict[str, Any]]:
        """The top 5 fillers of each text's mask token (the first one, where a text has several)."""
        fill = cls.pipeline(model, preprocessor, config)
        rows = []
        for text in inputs:
            if preprocessor.mask_token not in text:
                raise ConfigError("texts", text, f"a masked-LM fills masks: put {preprocessor.mask_token} in the text.")
            fills = fill(text)
            fills = fills[0] if fills and isinstance(fills[0], list) else fills
            rows.append({"text": text[:80], "fills": [{"token": f["token_str"], "score": f["score"]} for f in fills]})
        return rows

    # ---- output -------------------------------------------------------------------------------
    def resolved_config(self) -> RecipeConfig:
        return copy.deepcopy(self.config)  # no labels to record

    def save(self, directory: Any, metrics: dict[str, Any]) -> None:
        """The model as trained, plus the base checkpoint's tensors the masked-LM model does not use (BERT's pooler),
        unchanged: a classifier fine-tuned from the output then starts from the same pooler as one fine-tuned from
        the base, and a comparison of the two measures the pretraining alone (see :mod:`hf_transfer_kit.carry_over`)."""
        if self.unused_base_keys:
            metrics["carried_over_from_base"] = list(self.unused_base_keys)
        super().save(directory, metrics)
        prefix = getattr(self.trained_model(), "base_model_prefix", "")
        carry_over(self.base_path, self.config.model.revision, directory, self.unused_base_keys, prefix)

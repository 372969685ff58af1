"""Sequence-to-sequence fine-tuning (T5, BART, Marian...) on source -> target pairs.

The encoder reads the source (truncated to ``data.max_length``), the decoder learns the target (truncated to
``data.max_target_length``); the loss is on the target tokens only by construction. Evaluation and prediction
generate greedily from the source.
"""

from __future__ import annotations

from typing import Any

from ...cards.usage import base_reference
from ...config.schema import DataConfig
from ...generation.data import encode_seq2seq
from ...registry import register_task
from ..generative import GenerativeRecipe
from .config import Seq2SeqDataConfig


@register_task
class Seq2SeqRecipe(GenerativeRecipe):
    """Fine-tune an encoder-decoder model to map source texts to target texts (summaries, headlines, answers...)."""

    task = "text2text-generation"
    aliases = ("seq2seq",)
    peft_task_type = "SEQ_2_SEQ_LM"
    data_config = Seq2SeqDataConfig
    auto_model = "AutoModelForSeq2SeqLM"
    column_params = {"data.source_column": "source_column", "data.target_column": "target_column"}
    model_hint = "use an encoder-decoder model (T5, BART, Marian...), or task: text-generation for a decoder-only one."

    def preprocess(self, splits: Any) -> Any:
        return encode_seq2seq(splits, self.tokenizer, self.config.data, self.config.model.name_or_path)

    @classmethod
    def generation_inputs(cls, tokenizer: Any, data: DataConfig, texts: list[str]) -> list[list[int]]:
        return [list(ids) for ids in tokenizer(list(texts), truncation=True, max_length=data.max_length)["input_ids"]]

    @classmethod
    def pipeline(cls, model: Any, preprocessor: Any, config: Any) -> Any:
        """transformers 5 has no text2text pipeline: a callable with the pipeline's output shape,
        ``[{"generated_text": ...}]`` per input, generating greedily as in evaluation."""
        def generate(texts: str | list[str]) -> list[dict[str, str]]:
            inputs = [texts] if isinstance(texts, str) else list(texts)
            return [{"generated_text": answer} for answer in cls.generate_answers(model, preprocessor, config, inputs)]

        return generate

    @classmethod
    def card_snippet(cls, run: Any, model_id: str, merged: bool) -> str:
        """Load the model (and adapter) and call ``generate``: there is no text2text pipeline to name."""
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

"""Causal-LM fine-tuning (instruction tuning) of a decoder-only model on prompt -> response pairs.

Each example is the prompt in the tokenizer's chat template (or ``data.prompt_template``), the response and the
end token; only the response tokens carry loss. ``data.packing`` concatenates training examples into full
``max_length`` blocks. LoRA targets the attention projections (PEFT's table: ``q_proj`` / ``v_proj`` for Llama),
bottleneck adapters the attention output and MLP down projection; the LM head stays frozen and unsaved.
"""

from __future__ import annotations

from typing import Any

from ...config.schema import DataConfig
from ...generation.data import encode_causal, prompt_ids
from ...registry import register_task
from ..generative import GenerativeRecipe
from .config import CausalLMDataConfig


@register_task
class CausalLMRecipe(GenerativeRecipe):
    """Teach a pretrained decoder (Llama, Qwen, GPT-2...) to answer prompts: instruction / task transfer."""

    task = "text-generation"
    aliases = ("causal-lm",)
    peft_task_type = "CAUSAL_LM"
    data_config = CausalLMDataConfig
    auto_model = "AutoModelForCausalLM"
    usage_example = '"Replace this with your prompt.", max_new_tokens=32'
    column_params = {"data.prompt_column": "prompt_column", "data.response_column": "response_column"}
    model_hint = "use a decoder-only model (Llama, Qwen, GPT-2...), e.g. builtin:smollm2-135m-instruct."

    def preprocess(self, splits: Any) -> Any:
        return encode_causal(splits, self.tokenizer, self.config.data, self.config.model.name_or_path)

    @classmethod
    def generation_inputs(cls, tokenizer: Any, data: DataConfig, texts: list[str]) -> list[list[int]]:
        return [prompt_ids(tokenizer, text, data) for text in texts]

"""The data section of task text-generation (causal-LM instruction tuning): prompt / response pairs."""

from __future__ import annotations

from dataclasses import dataclass, field
from ..generative_config import GenerationDataConfig
from ...errors import ConfigError


@dataclass
class CausalLMDataConfig(GenerationDataConfig):
    """The data section of task text-generation (causal-LM instruction tuning): prompt / response pairs."""

    prompt_column: str = field(default="prompt", metadata={"help": "text-generation: column holding the instruction "
                               "(the input; no loss is taken on it)."})
    response_column: str = field(default="response", metadata={"help": "text-generation: column holding the answer "
                                 "the model learns to generate (the loss is taken on these tokens only)."})
    use_chat_template: bool = field(default=True, metadata={"help": "text-generation: wrap each prompt in the "
                                    "tokenizer's chat template (a user turn, then the assistant prefix) where it has "
                                    "one; otherwise, or when false, use data.prompt_template."})
    prompt_template: str = field(default="### Instruction:\n{prompt}\n\n### Response:\n", metadata={"help":
                                 "text-generation: how a prompt is written before its response when no chat "
                                 "template is used; must contain {prompt}."})
    packing: bool = field(default=False, metadata={"help": "text-generation: concatenate the training examples and cut "
                          "them into max_length blocks (no padding; prompts stay masked out of the loss). Validation "
                          "and test stay one example per row."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if "{prompt}" not in self.prompt_template:
            raise ConfigError("data.prompt_template", self.prompt_template, "put {prompt} where the instruction goes, "
                              "e.g. '### Instruction:\\n{prompt}\\n\\n### Response:\\n'.")

"""Shared fixtures: a tiny random BERT saved like a real checkpoint, toy data, the real MiniLM path."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from datasets import Dataset  # noqa: E402

from hf_transfer_kit.assets import resolve_model_path  # noqa: E402
from hf_transfer_kit.config import RecipeConfig, config_from_dict  # noqa: E402

MINILM = resolve_model_path("builtin:all-MiniLM-L6-v2")
KEYWORDS = {"sports": "football", "tech": "computer", "food": "pasta"}
FILLER = "the a of and to in is it that was for on with as by at this from".split()


#: One working config per strategy the kit ships (small sizes for tiny models); the test modules that sweep
#: strategies take theirs from here so a new strategy is added in one place.
STRATEGY_CASES = {
    "full": {"name": "full"},
    "partial": {"name": "partial", "freeze_embeddings": True, "freeze_bottom_layers": 1},
    "linear_probe": {"name": "linear_probe"},
    "bitfit": {"name": "bitfit"},
    "lora": {"name": "lora", "r": 4},
    "ia3": {"name": "peft", "method": "ia3"},
    "loha": {"name": "peft", "method": "loha", "r": 2},
    "adapter": {"name": "adapter", "reduction_factor": 8},
    "adapter_parallel": {"name": "adapter", "placement": "parallel", "bottleneck_size": 4},
}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer, hidden-32 BERT with random weights and the real MiniLM tokenizer, saved as a backbone."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=128)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def toy_dataset(n: int = 60, seed: int = 0) -> Dataset:
    """Three topics, each marked by one keyword among filler words: learnable, string labels."""
    rng = random.Random(seed)
    labels = list(KEYWORDS)
    rows = {"text": [], "label": []}
    for i in range(n):
        label = labels[i % len(labels)]
        words = rng.choices(FILLER, k=8) + [KEYWORDS[label]]
        rng.shuffle(words)
        rows["text"].append(" ".join(words))
        rows["label"].append(label)
    return Dataset.from_dict(rows)


def tiny_config(tmp_path: Path, model_dir: str, strategy: dict | None = None, **training) -> RecipeConfig:
    """A config that trains the tiny model for a few steps on in-memory data."""
    return config_from_dict({
        "output_dir": str(tmp_path / "out"),
        "model": {"name_or_path": model_dir},
        "data": {"dataset": None, "max_length": 32},
        "strategy": strategy or {"name": "full"},
        "training": {"num_train_epochs": 1, "max_steps": 3, "per_device_train_batch_size": 8, "learning_rate": 1e-3,
                     "logging_steps": 1, "eval_strategy": "no", "bf16": False, "disable_tqdm": True, **training},
    })

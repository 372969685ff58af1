"""The whole job for a config: check what can be checked, run the task's recipe, publish the finished output.

    from hf_transfer_kit import load_config, train
    result = train(load_config("recipes/configs/nlp/minilm_lora.yaml"))

What ``hf-transfer-kit train`` runs. The recipe itself never talks to the Hub: a push that cannot happen (no token,
offline) is refused here before any compute is spent, and the push runs after the output is committed, so a failed
push leaves a complete local run.
"""

from __future__ import annotations

import os
from typing import Any

from .config import RecipeConfig
from .hub import push_output, require_token
from .registry import get_task
from .tasks.base import RunResult


def is_main_process() -> bool:
    """Rank 0 under torchrun / accelerate launch (and the only process otherwise): the one that pushes and reports."""
    return int(os.environ.get("RANK", "0")) == 0


def train(config: RecipeConfig, **data: Any) -> RunResult:
    """Fine-tune as ``config`` says (``data``: in-memory ``train_dataset`` / ``eval_dataset`` / ``test_dataset`` or
    ``callbacks``, as for a recipe) and push the result when ``hub.push_to_hub`` is set."""
    push = config.hub.push_to_hub and is_main_process()
    if push:
        require_token()  # a push that cannot happen must fail now, not after hours of training
    recipe = get_task(config.task)(config, **data)
    recipe.pushed_by_caller = True
    result = recipe.run()
    if push:
        push_output(result.output_dir, config.hub)
    return result

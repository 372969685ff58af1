"""A newcomer's console: progress for long work, one summary at the end, no library noise they cannot act on.

* :func:`quiet_libraries` (the CLI calls it first): transformers' and datasets' bars for small steps go
  (``Loading weights``, a ``tokenize`` bar per split), and so do DeepSpeed's note that it fell back to the CPU
  on a machine without a GPU and transformers' deprecation notices about its own internals; their own environment
  variables (``HF_DATASETS_DISABLE_PROGRESS_BARS``, ``DS_ACCELERATOR``) still win. Warnings stay on: they may be
  the user's to act on.
* :func:`expected_new_head`: the kit replaces the pretrained head on purpose, so transformers' LOAD REPORT about
  the missing classifier is not shown (nor its notice when the kit dequantizes a k-bit base on purpose).
* :class:`Progress`: one bar per phase (training, each evaluation); the Trainer's logs update the bar's figures
  instead of printing a dictionary every ``logging_steps``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any

from transformers import ProgressCallback
from transformers.utils import logging as hf_logging

#: Trainer log keys shown on the training bar (the rest stay in log_history.json and the card's curve).
SHOWN = ("loss", "eval_loss", "eval_accuracy", "eval_f1", "learning_rate")


def quiet_libraries() -> None:
    """Silence what a user cannot act on; called once by the command line before any model is loaded."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # DeepSpeed otherwise warns that it fell back to the CPU
    hf_logging.disable_progress_bar()  # "Loading weights"; the Trainer's own bars are not affected
    if "HF_DATASETS_DISABLE_PROGRESS_BARS" not in os.environ:
        import datasets

        datasets.disable_progress_bars()
    # bitsandbytes (model.load_in_4bit) tries to fetch a faster CPU kernel from the Hub on import and falls back
    # to its own: offline, that is two lines a user cannot act on
    for name in ("bitsandbytes", "kernels"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*pin_memory.*no accelerator is found.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")


@contextlib.contextmanager
def expected_new_head() -> Iterator[None]:
    """Load a checkpoint whose head the kit replaces: transformers' report of the missing head is expected. Also for
    any other step whose transformers notice is expected (a k-bit base dequantized on purpose, kbit.py)."""
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


class Progress(ProgressCallback):
    """transformers' progress bars, with the latest logged figures on the training bar instead of printed dicts."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        self.figures.update({key.replace("eval_", "val_"): f"{value:.4g}" for key, value in logs.items()
                             if key in SHOWN and isinstance(value, (int, float))})
        if self.figures:
            self.training_bar.set_postfix(self.figures, refresh=False)

"""Score a generative model: token-exact perplexity over the answer tokens, and greedy generation.

Why not ``Trainer.evaluate``'s loss for the perplexity: it averages per-batch means, so batches with few answer
tokens weigh as much as batches with many. Here the negative log-likelihood is summed over every labelled token
and divided once, which is the perplexity's definition and does not depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .data import IGNORE_INDEX


@torch.inference_mode()
def answer_loss(model: Any, dataset: Any, collator: Any, batch_size: int = 16) -> tuple[float, int]:
    """(mean cross-entropy per labelled token, number of labelled tokens) over ``dataset``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    rows = dataset.with_format(None)
    for start in range(0, len(rows), batch_size):
        batch = collator([rows[i] for i in range(start, min(start + batch_size, len(rows)))])
        batch = {k: v.to(device) for k, v in batch.items()}
        labels = batch.pop("labels")
        if getattr(model.config, "is_encoder_decoder", False):
            logits = model(**batch, labels=labels).logits  # the model shifts labels into decoder inputs itself
            targets = labels
        else:
            logits = model(**batch).logits[:, :-1]
            targets = labels[:, 1:]
        nll = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                                ignore_index=IGNORE_INDEX, reduction="sum")
        total += float(nll)
        count += int((targets != IGNORE_INDEX).sum())
    model.train(was_training)
    return total / max(count, 1), count


@torch.inference_mode()
def generate(model: Any, tokenizer: Any, inputs: Sequence[Sequence[int]], max_new_tokens: int, end_token: int,
             batch_size: int = 16) -> list[str]:
    """Greedy continuations of token-id ``inputs``, decoded without special tokens.

    Decoder-only models get left-padded prompts (new tokens must follow each prompt's last token directly) and
    return only the new tokens; encoder-decoder models read right-padded sources and return the decoder output.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_token
    texts: list[str] = []
    for start in range(0, len(inputs), batch_size):
        chunk = [list(ids) for ids in inputs[start:start + batch_size]]
        width = max(len(ids) for ids in chunk)
        if encoder_decoder:
            ids = [row + [pad] * (width - len(row)) for row in chunk]
            mask = [[1] * len(row) + [0] * (width - len(row)) for row in chunk]
        else:
            ids = [[pad] * (width - len(row)) + row for row in chunk]
            mask = [[0] * (width - len(row)) + [1] * len(row) for row in chunk]
        input_ids = torch.tensor(ids, device=device)
        output = model.generate(input_ids=input_ids, attention_mask=torch.tensor(mask, device=device),
                                max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, eos_token_id=end_token,
                                pad_token_id=pad)
        new = output if encoder_decoder else output[:, width:]
        texts += [text.strip() for text in tokenizer.batch_decode(new, skip_special_tokens=True)]
    model.train(was_training)
    return texts

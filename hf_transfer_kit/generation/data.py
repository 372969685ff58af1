"""Prompt -> response and source -> target data: load, check, tokenise with the loss on the answer only, pack.

Why the prompt and the response are tokenised separately and concatenated (instead of tokenising the joined
text and searching for the boundary): the boundary is then exact at the token level for every tokenizer, and
the prompt tokens seen in training are exactly the ones :func:`prompt_ids` gives at generation time. Labels
are ``-100`` on every prompt token (and on padding), so the loss -- and the perplexity derived from it -- is
over response tokens only.

Everything here runs before the model is loaded, so bad data fails in seconds with the parameter to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from datasets import Dataset, DatasetDict

from ..config.schema import DataConfig
from ..data.splits import carve_splits
from ..data.masking import group_into_blocks
from ..data.files import load_raw
from ..errors import ConfigError

#: Internal column names once the user's columns are checked (``data.prompt_column`` -> ``input``...).
INPUT, OUTPUT = "input", "output"
IGNORE_INDEX = -100


def load_pairs(cfg: DataConfig, columns: Mapping[str, str], seed: int,
               in_memory: Optional[Mapping[str, Dataset]] = None) -> DatasetDict:
    """``DatasetDict(train, validation, test)`` with string columns ``input`` and ``output``.

    ``columns`` maps the two parameters (``data.prompt_column``, ``data.response_column`` or the seq2seq pair) to
    the user's column names, in (input, output) order; the errors name those parameters.
    """
    raw = load_raw(cfg, in_memory)
    if cfg.train_split not in raw:
        raise ConfigError("data.train_split", cfg.train_split, f"no such split; use one of the data's splits "
                          f"{list(raw)}.")
    (in_param, in_col), (out_param, out_col) = columns.items()
    pairs = {}
    for split, ds in raw.items():
        if len(ds) == 0:
            raise ConfigError(f"data ({split} split)", 0, "the split is empty; give at least one example.")
        for param, column in ((in_param, in_col), (out_param, out_col)):
            _check_text_column(ds, param, column, split)
        outputs = ds.with_format("arrow")[out_col].to_pylist()
        empty = sum(1 for text in outputs if not text.strip())
        if empty:
            raise ConfigError(out_param, out_col, f"{empty} example(s) in split '{split}' have an empty {out_col!r}, "
                              "which leaves nothing to learn or score; drop them first, e.g. "
                              f"ds.filter(lambda x: x[{out_col!r}].strip() != '').")
        ds = ds.select_columns([in_col, out_col])
        pairs[split] = ds.rename_columns({in_col: INPUT, out_col: OUTPUT})
    return carve_splits(pairs, cfg, seed)


def _check_text_column(ds: Dataset, param: str, column: str, split: str) -> None:
    if column not in ds.column_names:
        raise ConfigError(param, column, f"no such column in split '{split}'; its columns are {ds.column_names}. "
                          f"Map yours with {param}=<name>.")
    dtype = getattr(ds.features[column], "dtype", None)
    if dtype not in ("string", "large_string"):
        raise ConfigError(param, column, f"column holds {dtype or type(ds.features[column]).__name__} values in split "
                          f"'{split}', not text; point {param} at a text column or convert it to strings first.")
    nulls = ds.with_format("arrow")[column].null_count
    if nulls:
        raise ConfigError(param, column, f"{nulls} example(s) in split '{split}' have no text; drop or fill them "
                          f"first, e.g. ds.filter(lambda x: x[{column!r}] is not None).")


# ---- causal LM ---------------------------------------------------------------------------------------------------

def uses_chat_template(tokenizer: Any, cfg: DataConfig) -> bool:
    return bool(cfg.use_chat_template and getattr(tokenizer, "chat_template", None))


def prompt_ids(tokenizer: Any, prompt: str, cfg: DataConfig) -> list[int]:
    """The tokens the model sees before it answers: the chat template's user turn + assistant prefix, or
    ``data.prompt_template`` after the tokenizer's BOS token. Training and generation both call this."""
    if uses_chat_template(tokenizer, cfg):
        encoded = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                tokenize=True)
        return list(encoded["input_ids"] if isinstance(encoded, Mapping) else encoded)
    ids = tokenizer(cfg.prompt_template.replace("{prompt}", prompt), add_special_tokens=False)["input_ids"]
    return ([tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []) + list(ids)


def end_token_id(tokenizer: Any, name_or_path: str) -> int:
    """The token that ends a response (appended in training, stops generation): EOS, else SEP."""
    token = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    if token is None:
        raise ConfigError("model.name_or_path", name_or_path, "its tokenizer has no end-of-sequence (or separator) "
                          "token, so a generated answer could never end; use a generative model's tokenizer, or add "
                          "one (tokenizer.eos_token = ...) and save it with the model.")
    return int(token)


def encode_causal(splits: DatasetDict, tokenizer: Any, cfg: DataConfig, name_or_path: str) -> DatasetDict:
    """``input_ids`` = prompt + response + EOS, ``labels`` = -100 on the prompt; the training split packed with
    ``data.packing``. A prompt that leaves no room for a response token within ``max_length`` is an error."""
    eos = end_token_id(tokenizer, name_or_path)
    limit = cfg.max_length

    def encode(batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": [], "prompt_length": []}
        responses = tokenizer(batch[OUTPUT], add_special_tokens=False)["input_ids"]
        for prompt, response in zip(batch[INPUT], responses):
            head = prompt_ids(tokenizer, prompt, cfg)
            ids = (head + list(response) + [eos])[:limit]
            out["input_ids"].append(ids)
            out["attention_mask"].append([1] * len(ids))
            out["labels"].append(([IGNORE_INDEX] * len(head) + list(response) + [eos])[:limit])
            out["prompt_length"].append(len(head))
        return out

    encoded = splits.map(encode, batched=True, remove_columns=[INPUT, OUTPUT], desc="tokenize")
    for split, ds in encoded.items():
        lengths = ds["prompt_length"]
        too_long = [n for n in lengths if n >= limit]
        if too_long:
            raise ConfigError("data.max_length", limit, f"{len(too_long)} of {len(lengths)} prompt(s) in split "
                              f"'{split}' fill all {limit} tokens (the longest has {max(too_long)}), leaving no room "
                              f"for the response; set data.max_length above {max(too_long)} (plus the response) or "
                              "shorten the prompts.")
    encoded = encoded.remove_columns("prompt_length")
    if cfg.packing:
        encoded["train"] = encoded["train"].map(lambda batch: group_into_blocks(batch, limit), batched=True,
                                                desc="pack into blocks")
    return encoded


def prompt_part(input_ids: list[int], labels: list[int]) -> list[int]:
    """The prompt of an encoded (unpacked) example: the tokens before the first labelled one."""
    for i, label in enumerate(labels):
        if label != IGNORE_INDEX:
            return list(input_ids[:i])
    return list(input_ids)


# ---- seq2seq -----------------------------------------------------------------------------------------------------

def encode_seq2seq(splits: DatasetDict, tokenizer: Any, cfg: DataConfig, name_or_path: str) -> DatasetDict:
    """Sources truncated to ``max_length``, targets (the ``labels``) to ``max_target_length``, each target ending in
    the end token (T5 / BART tokenizers append it themselves; others would train a decoder that never stops)."""
    eos = end_token_id(tokenizer, name_or_path)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch[INPUT], truncation=True, max_length=cfg.max_length)
        targets = tokenizer(text_target=batch[OUTPUT], truncation=True, max_length=cfg.max_target_length)
        labels = [ids if ids and ids[-1] == eos else ids[:cfg.max_target_length - 1] + [eos]
                  for ids in targets["input_ids"]]
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"], "labels": labels}

    return splits.map(encode, batched=True, remove_columns=[INPUT, OUTPUT], desc="tokenize")

"""Where bottleneck adapters go in each supported architecture.

PEFT's list-style ``target_modules`` match name *suffixes*, and in BERT ``output.dense`` is a suffix of
both the FFN output (``layer.0.output.dense``) and the attention output (``layer.0.attention.output.dense``).
So the defaults are regexes anchored at the transformer block (``...layer.<i>.``, or ``...layers.<i>.``
as in ViT), which tell the two apart. They are written into the saved config, so a reloaded adapter
targets exactly the same modules.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ConfigError


@dataclass(frozen=True)
class BlockLayout:
    """Regexes for the sublayers of one transformer block, relative to the block (``...layer(s).<i>.``).

    ``attention_output`` and ``ffn_output`` name the ``nn.Linear`` whose output is the sublayer's output
    before the residual add, which is where Houlsby and Pfeiffer put the adapter. ``ffn_block`` names
    the module the parallel adapter wraps: one that receives the FFN input (see
    :class:`~hf_transfer_kit.adapters.bottleneck.layer.ParallelBottleneckLayer`).
    """

    attention_output: str
    ffn_output: str
    ffn_block: str


_BERT_LAYOUT = BlockLayout(attention_output=r"attention\.output\.dense", ffn_output=r"output\.dense",
                           ffn_block=r"output")
_LLAMA_LAYOUT = BlockLayout(attention_output=r"self_attn\.o_proj", ffn_output=r"mlp\.down_proj", ffn_block=r"mlp")

#: ``model.config.model_type`` -> block layout.
LAYOUTS: dict[str, BlockLayout] = {
    "bert": _BERT_LAYOUT,
    "roberta": _BERT_LAYOUT,
    "xlm-roberta": _BERT_LAYOUT,
    "camembert": _BERT_LAYOUT,
    "electra": _BERT_LAYOUT,
    "deberta": _BERT_LAYOUT,
    "deberta-v2": _BERT_LAYOUT,
    "mpnet": BlockLayout(attention_output=r"attention\.attn\.o", ffn_output=r"output\.dense", ffn_block=r"output"),
    "distilbert": BlockLayout(attention_output=r"attention\.out_lin", ffn_output=r"ffn\.lin2", ffn_block=r"ffn"),
    "vit": BlockLayout(attention_output=r"attention\.o_proj", ffn_output=r"mlp\.fc2", ffn_block=r"mlp"),
    # Decoder-only LMs (``model.layers.<i>.``): the attention's output projection and the gated MLP's down projection.
    "llama": _LLAMA_LAYOUT,
    "mistral": _LLAMA_LAYOUT,
    "qwen2": _LLAMA_LAYOUT,
    # T5 (``encoder|decoder.block.<i>.layer.<j>.``): self- and cross-attention outputs, then the FFN's ``wo``.
    "t5": BlockLayout(attention_output=r"(?:SelfAttention|EncDecAttention)\.o", ffn_output=r"DenseReluDense\.wo",
                      ffn_block=r"DenseReluDense"),
}


def default_target_modules(model_type: str | None, placement: str) -> str:
    """Return the ``target_modules`` regex for ``placement`` in a ``model_type`` model."""
    layout = LAYOUTS.get(model_type or "")
    if layout is None:
        raise ConfigError("target_modules", None,
                          f"no default targets for model_type {model_type!r}; pass target_modules explicitly "
                          f"(nn.Linear sublayer outputs for 'houlsby'/'pfeiffer', FFN blocks for 'parallel') or "
                          f"use one of the supported model types: {', '.join(sorted(LAYOUTS))}.")
    sublayers = {
        "houlsby": [layout.attention_output, layout.ffn_output],
        "pfeiffer": [layout.ffn_output],
        "parallel": [layout.ffn_block],
    }[placement]
    return rf".*\.layers?\.\d+\.(?:{'|'.join(sublayers)})"

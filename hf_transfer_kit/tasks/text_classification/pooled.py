"""A sequence classifier that pools its encoder's tokens the way the checkpoint was trained to be read.

``AutoModelForSequenceClassification`` on a BERT-style checkpoint reads the [CLS] token through BERT's pooler.
Sentence-transformers checkpoints (all-MiniLM-L6-v2, all-mpnet-base-v2, e5, bge ...) were trained to be read as the
*mean* of their token states (their ``1_Pooling/config.json`` says so); a head on their [CLS] pooler reads features
nothing trained. This model is any ``AutoModel`` encoder plus that pooling plus one linear layer. It registers with
the Auto classes, so ``AutoModelForSequenceClassification.from_pretrained`` and ``pipeline("text-classification")``
load a saved run once ``hf_transfer_kit`` is imported.

``model.pooling`` chooses: ``auto`` (the checkpoint's own pooling where a sentence-transformers config names it, for
the linear probe, whose frozen features must be read as trained; every other strategy keeps the model's own head,
which it fine-tunes), ``mean``, ``cls`` (the [CLS] token's state, no pooler) or ``model`` (the model's own head).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.loss.loss_utils import ForSequenceClassificationLoss
from transformers.modeling_outputs import SequenceClassifierOutput



def checkpoint_pooling(model_path: str, revision: Optional[str] = None) -> Optional[str]:
    """'mean' or 'cls' when the checkpoint's sentence-transformers pooling config names it, else None."""
    from transformers.utils import cached_file

    def read(name: str) -> Any:
        path = cached_file(model_path, name, revision=revision, _raise_exceptions_for_missing_entries=False,
                           _raise_exceptions_for_connection_errors=False)
        return json.loads(Path(path).read_text(encoding="utf-8")) if path else None

    modules = read("modules.json") or []
    for module in modules:
        if str(module.get("type", "")).endswith("Pooling"):
            config = read(f"{module.get('path', '')}/config.json".lstrip("/")) or {}
            if config.get("pooling_mode_mean_tokens"):
                return "mean"
            if config.get("pooling_mode_cls_token"):
                return "cls"
    return None


def resolve_pooling(pooling: str, strategy: str, model_path: str, revision: Optional[str] = None) -> str:
    """The pooling a run uses: 'model' (the model's own head), 'mean' or 'cls' (``build_model`` reads a remaining
    'auto' as 'model')."""
    if pooling != "auto":
        return pooling
    if strategy != "linear_probe":
        return "model"
    return checkpoint_pooling(model_path, revision) or "model"


class PooledClassifierConfig(PretrainedConfig):
    model_type = "hf_transfer_kit_pooled"
    sub_configs = {"encoder": AutoConfig}

    def __init__(self, encoder: Any = None, pooling: str = "mean", classifier_dropout: float = 0.1,
                 **kwargs: Any) -> None:
        if isinstance(encoder, dict):
            encoder = AutoConfig.for_model(**encoder)
        self.encoder = encoder
        self.pooling = pooling
        self.classifier_dropout = classifier_dropout
        super().__init__(**kwargs)

    @property
    def hidden_size(self) -> int:
        return self.encoder.hidden_size

    @property
    def max_position_embeddings(self) -> Optional[int]:
        return getattr(self.encoder, "max_position_embeddings", None)


def pool(hidden: torch.Tensor, attention_mask: Optional[torch.Tensor], how: str) -> torch.Tensor:
    """The mean of the unpadded token states, or the first token's state."""
    if how == "cls":
        return hidden[:, 0]
    if attention_mask is None:
        return hidden.mean(1)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class PooledForSequenceClassification(PreTrainedModel):
    config_class = PooledClassifierConfig
    base_model_prefix = "encoder"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: PooledClassifierConfig, encoder: Optional[nn.Module] = None) -> None:
        super().__init__(config)
        self.encoder = encoder if encoder is not None else AutoModel.from_config(config.encoder,
                                                                                 add_pooling_layer=False)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is getattr(self, "classifier", None):
            module.weight.data.normal_(0.0, 0.02)
            module.bias.data.zero_()

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def forward(self, input_ids: Optional[torch.Tensor] = None, attention_mask: Optional[torch.Tensor] = None,
                token_type_ids: Optional[torch.Tensor] = None, labels: Optional[torch.Tensor] = None,
                inputs_embeds: Optional[torch.Tensor] = None, **kwargs: Any) -> SequenceClassifierOutput:
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                              **extra).last_hidden_state
        logits = self.classifier(self.dropout(pool(hidden, attention_mask, self.config.pooling)))
        loss = ForSequenceClassificationLoss(labels, logits, self.config) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    @classmethod
    def from_encoder(cls, model_path: str, pooling: str, head_config: dict[str, Any], **kwargs: Any) -> Any:
        """A new classifier over the pretrained encoder at ``model_path``."""
        kwargs = dict(kwargs)
        try:
            encoder = AutoModel.from_pretrained(model_path, add_pooling_layer=False, **kwargs)
        except TypeError:  # encoders without a pooler
            encoder = AutoModel.from_pretrained(model_path, **kwargs)
        config = PooledClassifierConfig(encoder=encoder.config, pooling=pooling, **head_config)
        return cls(config, encoder=encoder)


AutoConfig.register(PooledClassifierConfig.model_type, PooledClassifierConfig, exist_ok=True)
AutoModelForSequenceClassification.register(PooledClassifierConfig, PooledForSequenceClassification, exist_ok=True)

"""EfficientNet-Lite as a regular transformers model: config, backbone, image-classification head.

Why our own transformers model and not the ``efficientnet-lite-pytorch`` package's module: the recipe,
the strategies and ``save_pretrained`` / ``from_pretrained`` all speak the Auto-class language, so a
model registered with ``AutoConfig`` / ``AutoModelForImageClassification`` is used exactly like a Hub
checkpoint (new head via ``ignore_mismatched_sizes``, safetensors, PEFT). Two deliberate differences
from the package's module:

* every convolution is a plain ``nn.Conv2d``; TensorFlow's asymmetric "SAME" padding is applied in
  ``forward`` with :func:`same_padding`. PEFT cannot wrap the package's ``Conv2dStaticSamePadding``, and
  the padding is computed from the actual input size, so any resolution works (not only 224).
* the module names follow transformers' own EfficientNet (``embeddings``, ``encoder.blocks.<i>``,
  ``encoder.top_conv``, ``classifier``), so the kit's anatomy rules find stem, blocks and head.

Lite differs from EfficientNet-B0 by ReLU6 instead of swish, no squeeze-and-excitation, and an
unscaled stem/head: the variant made for integer-only mobile accelerators.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndNoAttention, ImageClassifierOutputWithNoAttention


class EfficientNetLiteConfig(PretrainedConfig):
    """Architecture of an EfficientNet-Lite; the defaults are EfficientNet-Lite0 (4.65 M parameters at 1000 classes).

    Stage ``i`` has ``depths[i]`` inverted-residual blocks with ``hidden_sizes[i]`` output channels, kernel
    ``kernel_sizes[i]``, expansion ``expand_ratios[i]``; its first block uses ``strides[i]``.
    """

    model_type = "efficientnet_lite"

    def __init__(self, num_channels: int = 3, image_size: int = 224, stem_channels: int = 32,
                 hidden_sizes: tuple[int, ...] = (16, 24, 40, 80, 112, 192, 320),
                 depths: tuple[int, ...] = (1, 2, 2, 3, 3, 4, 1),
                 kernel_sizes: tuple[int, ...] = (3, 3, 5, 3, 5, 5, 3),
                 strides: tuple[int, ...] = (1, 2, 2, 2, 1, 2, 1),
                 expand_ratios: tuple[int, ...] = (1, 6, 6, 6, 6, 6, 6),
                 hidden_dim: int = 1280, batch_norm_eps: float = 1e-3, batch_norm_momentum: float = 0.01,
                 dropout_rate: float = 0.2, drop_connect_rate: float = 0.2, initializer_range: float = 0.02,
                 **kwargs: Any) -> None:
        lengths = {len(v) for v in (hidden_sizes, depths, kernel_sizes, strides, expand_ratios)}
        if len(lengths) != 1:
            raise ValueError("hidden_sizes, depths, kernel_sizes, strides and expand_ratios need one entry per stage.")
        self.num_channels = num_channels
        self.image_size = image_size
        self.stem_channels = stem_channels
        self.hidden_sizes = list(hidden_sizes)
        self.depths = list(depths)
        self.kernel_sizes = list(kernel_sizes)
        self.strides = list(strides)
        self.expand_ratios = list(expand_ratios)
        self.hidden_dim = hidden_dim
        self.batch_norm_eps = batch_norm_eps
        self.batch_norm_momentum = batch_norm_momentum  # PyTorch convention (TF's 0.99 is 0.01 here)
        self.dropout_rate = dropout_rate
        self.drop_connect_rate = drop_connect_rate
        self.initializer_range = initializer_range
        super().__init__(**kwargs)
        self.num_hidden_layers = sum(self.depths)


def same_padding(x: torch.Tensor, kernel_size: int, stride: int) -> torch.Tensor:
    """TensorFlow "SAME" padding (extra pixel at the bottom/right), as the weights were trained with."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
        total = max((math.ceil(size / stride) - 1) * stride + kernel_size - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


def _bn(channels: int, config: EfficientNetLiteConfig) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=config.batch_norm_eps, momentum=config.batch_norm_momentum)


class EfficientNetLiteEmbeddings(nn.Module):
    """The stem: 3x3 stride-2 convolution, batch norm, ReLU6."""

    def __init__(self, config: EfficientNetLiteConfig) -> None:
        super().__init__()
        self.convolution = nn.Conv2d(config.num_channels, config.stem_channels, 3, stride=2, bias=False)
        self.batchnorm = _bn(config.stem_channels, config)
        self.activation = nn.ReLU6()

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.activation(self.batchnorm(self.convolution(same_padding(pixel_values, 3, 2))))


class EfficientNetLiteBlock(nn.Module):
    """Inverted residual (MBConv): 1x1 expand -> depthwise kxk -> 1x1 project, + residual with stochastic depth."""

    def __init__(self, config: EfficientNetLiteConfig, in_dim: int, out_dim: int, kernel_size: int, stride: int,
                 expand_ratio: int, drop_rate: float) -> None:
        super().__init__()
        hidden = in_dim * expand_ratio
        self.kernel_size, self.stride, self.drop_rate = kernel_size, stride, drop_rate
        self.use_residual = stride == 1 and in_dim == out_dim
        if expand_ratio != 1:
            self.expand_conv = nn.Conv2d(in_dim, hidden, 1, bias=False)
            self.expand_bn = _bn(hidden, config)
        self.depthwise_conv = nn.Conv2d(hidden, hidden, kernel_size, stride=stride, groups=hidden, bias=False)
        self.depthwise_bn = _bn(hidden, config)
        self.project_conv = nn.Conv2d(hidden, out_dim, 1, bias=False)
        self.project_bn = _bn(out_dim, config)
        self.activation = nn.ReLU6()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        x = hidden_states
        if hasattr(self, "expand_conv"):
            x = self.activation(self.expand_bn(self.expand_conv(x)))
        x = self.depthwise_conv(same_padding(x, self.kernel_size, self.stride))
        x = self.activation(self.depthwise_bn(x))
        x = self.project_bn(self.project_conv(x))
        if not self.use_residual:
            return x
        if self.training and self.drop_rate > 0:  # stochastic depth: drop the whole branch per sample
            keep = 1.0 - self.drop_rate
            mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
            x = x / keep * mask
        return x + hidden_states


class EfficientNetLiteEncoder(nn.Module):
    """All blocks as one flat list (bottom first, as in transformers' EfficientNet), then the 1x1 top conv."""

    def __init__(self, config: EfficientNetLiteConfig) -> None:
        super().__init__()
        total = sum(config.depths)
        blocks, in_dim = [], config.stem_channels
        for out_dim, depth, kernel, stride, expand in zip(config.hidden_sizes, config.depths, config.kernel_sizes,
                                                          config.strides, config.expand_ratios):
            for j in range(depth):
                rate = config.drop_connect_rate * len(blocks) / total  # deeper blocks are dropped more often
                blocks.append(EfficientNetLiteBlock(config, in_dim, out_dim, kernel, stride if j == 0 else 1,
                                                    expand, rate))
                in_dim = out_dim
        self.blocks = nn.ModuleList(blocks)
        self.top_conv = nn.Conv2d(in_dim, config.hidden_dim, 1, bias=False)
        self.top_bn = _bn(config.hidden_dim, config)
        self.top_activation = nn.ReLU6()

    def forward(self, hidden_states: torch.Tensor, output_hidden_states: bool = False
                ) -> tuple[torch.Tensor, Optional[tuple[torch.Tensor, ...]]]:
        all_states: list[torch.Tensor] = [hidden_states]
        for block in self.blocks:
            hidden_states = block(hidden_states)
            all_states.append(hidden_states)
        hidden_states = self.top_activation(self.top_bn(self.top_conv(hidden_states)))
        return hidden_states, tuple(all_states) if output_hidden_states else None


class EfficientNetLitePreTrainedModel(PreTrainedModel):
    config_class = EfficientNetLiteConfig
    base_model_prefix = "efficientnet_lite"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules = ["EfficientNetLiteBlock"]

    def _init_weights(self, module: nn.Module) -> None:
        """Only runs for weights missing from a checkpoint (a new head) or for models built from a config."""
        from transformers import initialization as init

        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


class EfficientNetLiteModel(EfficientNetLitePreTrainedModel):
    """The backbone: stem, blocks, top conv and global average pooling."""

    def __init__(self, config: EfficientNetLiteConfig) -> None:
        super().__init__(config)
        self.embeddings = EfficientNetLiteEmbeddings(config)
        self.encoder = EfficientNetLiteEncoder(config)
        self.pooler = nn.AdaptiveAvgPool2d(1)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, output_hidden_states: Optional[bool] = None,
                return_dict: Optional[bool] = None, **kwargs: Any) -> Any:
        output_hidden_states = output_hidden_states if output_hidden_states is not None else \
            self.config.output_hidden_states
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        last, states = self.encoder(self.embeddings(pixel_values), bool(output_hidden_states))
        pooled = self.pooler(last).flatten(1)
        if not return_dict:
            return (last, pooled) + ((states,) if states is not None else ())
        return BaseModelOutputWithPoolingAndNoAttention(last_hidden_state=last, pooler_output=pooled,
                                                        hidden_states=states)


class EfficientNetLiteForImageClassification(EfficientNetLitePreTrainedModel):
    """Backbone + dropout + linear classifier (the ``classifier`` the strategies treat as the task head)."""

    def __init__(self, config: EfficientNetLiteConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.efficientnet_lite = EfficientNetLiteModel(config)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.classifier = nn.Linear(config.hidden_dim, config.num_labels)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, labels: Optional[torch.Tensor] = None,
                output_hidden_states: Optional[bool] = None, return_dict: Optional[bool] = None,
                **kwargs: Any) -> Any:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.efficientnet_lite(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = self.loss_function(labels, logits, self.config) if labels is not None else None
        if not return_dict:
            out = (logits,) + ((outputs.hidden_states,) if outputs.hidden_states is not None else ())
            return ((loss,) + out) if loss is not None else out
        return ImageClassifierOutputWithNoAttention(loss=loss, logits=logits, hidden_states=outputs.hidden_states)

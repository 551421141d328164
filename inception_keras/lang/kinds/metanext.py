"""MetaNeXt kinds (InceptionNeXt, Yu et al. CVPR 2024, as timm writes it): `layer_norm`, `layer_scale` and
`drop_path`. The rest of InceptionNeXt is words the language already had: a `branch` with `split` (the identity
and three depthwise convolutions on their slices of the channels), `conv` with `groups`, GELU as an activation,
and timm's MLP head as `global_avgpool`, `dense`, `layer_norm`, `dense`."""
from __future__ import annotations

from dataclasses import dataclass

from inception_keras.lang.geometry import Cost
from inception_keras.lang.kinds.base import Layer, layer_kind
from inception_keras.lang.options import option


@layer_kind
@dataclass(frozen=True, kw_only=True)
class LayerNorm(Layer):
    KIND = "layer_norm"
    DOC = ("layer normalization over the last axis, with a learned scale and offset per channel (PyTorch's "
           "nn.LayerNorm on a vector: timm's MLP head)")
    INPUT = "any"

    epsilon: float = option("pos_number", "added to the variance (timm's heads: 1e-6; PyTorch's default 1e-5)", 1e-6)

    def cost(self, shape):
        return Cost(shape, 2 * shape[-1])


@layer_kind
@dataclass(frozen=True, kw_only=True)
class LayerScale(Layer):
    KIND = "layer_scale"
    DOC = "multiply each channel by a learned factor (layer scale: timm's `gamma`, CaiT/ConvNeXt/MetaNeXt)"
    INPUT = "any"

    init: float = option("number", "the factors' starting value (timm's ls_init_value)", 1e-6)

    def cost(self, shape):
        return Cost(shape, shape[-1])


@layer_kind
@dataclass(frozen=True, kw_only=True)
class DropPath(Layer):
    KIND = "drop_path"
    DOC = ("stochastic depth: while training, each sample's whole input is zeroed with probability `rate` and "
           "the rest divided by 1 - rate (timm's DropPath, on a residual branch); the identity at inference")
    INPUT = "any"

    rate: float = option("rate", "the probability a sample's branch is dropped while training", 0.0)
    seed: int | None = option("nonneg_int", "seed of the drops (null: a random one)", None, nullable=True)

    def cost(self, shape):
        return Cost(shape)

"""Normalisation kinds: `batch_norm` and Caffe's `lrn`."""
from __future__ import annotations

from dataclasses import dataclass

from inception_keras.lang.geometry import Cost
from inception_keras.lang.kinds.base import (
    Layer,
    inherited,
    layer_kind,
)
from inception_keras.lang.options import option


@layer_kind
@dataclass(frozen=True, kw_only=True)
class BatchNorm(Layer):
    KIND = "batch_norm"
    DOC = "batch normalization on the last axis"
    INPUT = "any"

    epsilon: float = inherited("bn_epsilon", "pos_number")
    momentum: float = inherited("bn_momentum", "rate")
    center: bool = inherited("bn_center", "bool")
    scale: bool = inherited("bn_scale", "bool")

    def cost(self, shape):
        return Cost(shape, (int(self.center) + int(self.scale)) * shape[-1], 2 * shape[-1])


@layer_kind
@dataclass(frozen=True, kw_only=True)
class LRN(Layer):
    KIND = "lrn"
    DOC = "local response normalization across channels (Caffe's LRN, AlexNet/GoogLeNet)"

    size: int = option("pos_int", "Caffe's local_size: channels in the window (odd); TF depth_radius = (size-1)/2",
                       5)
    alpha: float = option("pos_number", "Caffe's alpha; TF alpha = alpha / size", 1e-4)
    beta: float = option("pos_number", "exponent", 0.75)
    k: float = option("pos_number", "Caffe's k; TF bias", 1.0)

    @property
    def depth_radius(self) -> int:
        return (self.size - 1) // 2

    @property
    def tf_alpha(self) -> float:
        return self.alpha / self.size

    def problems(self):
        if self.size % 2 == 0:
            return [("size", f"expected an odd window (Caffe's local_size), got {self.size}")]
        return []

    def cost(self, shape):
        return Cost(shape)

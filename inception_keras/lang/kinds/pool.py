"""Pooling kinds: `maxpool`, `avgpool` (Caffe's ceil mode and PyTorch padding included), `adaptive_avgpool`,
`global_avgpool`."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from inception_keras.lang.geometry import Cost, axis, pool_out, shape_text
from inception_keras.lang.kinds.base import (
    Layer,
    inherited,
    layer_kind,
)
from inception_keras.lang.options import option


@dataclass(frozen=True, kw_only=True)
class Pool(Layer):
    """Max and average pooling share their keys."""

    size: int = option("pos_int", "window size (square)")
    stride: int | None = option("pos_int", "stride (default: size)", None, nullable=True)
    padding: Any = inherited("padding", "padding")
    ceil_mode: bool = option("bool", "round the output size up, as PyTorch's ceil_mode and Caffe's pools (with "
                                     "valid or integer padding): a last, partial window is kept when it starts "
                                     "inside the input or its left padding; average pools count the padding but "
                                     "not the part past it", False)
    adapt: bool = option("bool", "if the window is larger than the incoming feature map (valid padding), shrink "
                                 "it to the feature map; `summary` reports it", False)
    adapted_from: int | None = field(default=None, compare=False)  # the declared size, when `adapt` shrank it

    def resolved(self, classes):
        return self if self.stride else replace(self, stride=self.size)

    def problems(self):
        if self.ceil_mode and self.padding == "same":
            return [("ceil_mode", "ceil_mode rounds explicit padding up; with padding: same it has no meaning "
                                  "(use padding: valid or an integer)")]
        if self.ceil_mode and isinstance(self.padding, tuple):
            return [("ceil_mode", "ceil_mode takes padding valid or one integer for both axes")]
        return []

    def fit(self, shape, input_shape):
        h, w, _ = shape
        if not (self.adapt and self.padding in ("valid", 0) and self.size > min(h, w)):
            return self, ""
        size = min(h, w)
        note = (f"{self.name}: {self.KIND} {self.size}x{self.size}/{self.stride} does not fit the {h}x{w} feature "
                f"map at input {shape_text(input_shape)}; adapted to {size}x{size}/{self.stride} (adapt: true)")
        return replace(self, size=size, adapted_from=self.size), note

    def cost(self, shape):
        h, w, c = shape
        return Cost((pool_out(h, self.size, self.stride, axis(self.padding, 0), self.ceil_mode),
                     pool_out(w, self.size, self.stride, axis(self.padding, 1), self.ceil_mode), c))


@layer_kind
@dataclass(frozen=True, kw_only=True)
class MaxPool(Pool):
    KIND = "maxpool"
    DOC = "max pooling"


@layer_kind
@dataclass(frozen=True, kw_only=True)
class AvgPool(Pool):
    KIND = "avgpool"
    DOC = "average pooling"


@layer_kind
@dataclass(frozen=True, kw_only=True)
class AdaptiveAvgPool(Layer):
    KIND = "adaptive_avgpool"
    DOC = ("average pooling to a fixed output size, as PyTorch's AdaptiveAvgPool2d: output row i averages input "
           "rows floor(i*H/output) to ceil((i+1)*H/output) - 1, and the same for columns")

    output: int = option("pos_int", "output height and width")

    def cost(self, shape):
        return Cost((self.output, self.output, shape[2]))


@layer_kind
@dataclass(frozen=True, kw_only=True)
class GlobalAvgPool(Layer):
    KIND = "global_avgpool"
    DOC = "average over height and width: HxWxC -> C"

    def cost(self, shape):
        return Cost((shape[2],))

"""Convolution kinds: `conv` and `sepconv`, and the settings (`ConvSettings`) every convolution shares."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from inception_keras.lang.geometry import Cost, conv_cost
from inception_keras.lang.kinds.base import (
    ACTIVATIONS,
    INITIALIZERS,
    MAX_CHANNELS,
    Layer,
    channel_count,
    inherited,
    layer_kind,
)
from inception_keras.lang.options import option


@dataclass(frozen=True, kw_only=True)
class ConvSettings:
    """The keys a conv and an Inception block (for its six convolutions) take from the architecture's `defaults`.

    Declared once here; a kind lists it after `Layer` (`class Conv(Layer, ConvSettings)`), so these keys come
    after the kind's own keys and before the inherited `name`, as `options` orders them."""

    activation: str = inherited("activation", "choice", ACTIVATIONS)
    use_bias: bool = inherited("use_bias", "bool")
    batch_norm: bool = inherited("batch_norm", "bool")
    initializer: str = inherited("initializer", "choice", INITIALIZERS)
    bn_epsilon: float = inherited("bn_epsilon", "pos_number")
    bn_momentum: float = inherited("bn_momentum", "rate")
    bn_center: bool = inherited("bn_center", "bool")
    bn_scale: bool = inherited("bn_scale", "bool")

    @property
    def bn_values(self) -> int:
        """Values BatchNorm keeps per channel: moving mean and variance, and beta and gamma where used."""
        return 2 + int(self.bn_center) + int(self.bn_scale)

    def conv_settings(self) -> dict:
        """These keys and their values, to give a Conv the settings of this layer."""
        return {f.name: getattr(self, f.name) for f in fields(ConvSettings)}


@layer_kind
@dataclass(frozen=True, kw_only=True)
class Conv(Layer, ConvSettings):
    KIND = "conv"
    DOC = "convolution + activation (with batch_norm: convolution, BatchNorm, activation)"

    filters: int = channel_count("output channels")
    kernel: Any = option("size", "kernel size: N (square) or [height, width] (`[1, 7]`)")
    stride: Any = option("size", "stride: N or [height, width]", 1)
    padding: Any = inherited("padding", "padding")
    groups: int = option("pos_int", "channel groups: each group of filters/groups outputs sees only its "
                                    "in/groups inputs (PyTorch's `groups`); groups = input channels = filters "
                                    "is a depthwise convolution (one filter per channel)", 1,
                         maximum=MAX_CHANNELS)

    def shape_problem(self, shape):
        if len(shape) == 3 and (shape[2] % self.groups or self.filters % self.groups):
            return (f"{self.name}: {self.groups} groups must divide the {shape[2]} input channels and the "
                    f"{self.filters} filters")
        return None

    def cost(self, shape):
        h, w, cin = shape
        return conv_cost(cin, h, w, self.filters, self.kernel, self.stride, self.padding, self.use_bias,
                         self.batch_norm, self.bn_values, groups=self.groups)


@layer_kind
@dataclass(frozen=True, kw_only=True)
class SepConv(Layer, ConvSettings):
    KIND = "sepconv"
    DOC = ("depthwise-separable convolution (Keras' SeparableConv2D: one kxk filter per input channel, then a 1x1 "
           "to `filters`) + activation (with batch_norm: then BatchNorm, activation; with depthwise_bn: BatchNorm "
           "and activation after each step)")

    filters: int = channel_count("output channels")
    kernel: Any = option("size", "kernel of the depthwise step: N or [height, width]")
    stride: Any = option("size", "stride: N or [height, width]", 1)
    padding: Any = inherited("padding", "padding")
    depthwise_bn: bool = option("bool", "BatchNorm and the activation after the depthwise step too (timm's aligned "
                                        "Xception, DeepLab): depthwise kxk, BatchNorm, activation, 1x1, BatchNorm, "
                                        "activation; needs batch_norm", False)
    depth_multiplier: int = option("pos_int", "depthwise filters per input channel (TF-Slim's Inception v2 stem: 8)", 1)

    def problems(self):
        if self.depthwise_bn and not self.batch_norm:
            return [("depthwise_bn", "a BatchNorm between the depthwise and pointwise steps needs batch_norm: true")]
        if self.depthwise_bn and self.depth_multiplier != 1:
            return [("depth_multiplier", "depthwise_bn takes one filter per channel (depth_multiplier: 1)")]
        return []

    def cost(self, shape):
        h, w, cin = shape
        if not self.depthwise_bn:
            # the depthwise step's cin * m maps feed the 1x1: Keras' SeparableConv2D with depth_multiplier m
            return conv_cost(cin * self.depth_multiplier, h, w, self.filters, self.kernel, self.stride,
                             self.padding, self.use_bias, self.batch_norm, self.bn_values, depthwise=True)
        dw = conv_cost(1, h, w, 1, self.kernel, self.stride, self.padding, self.use_bias, True, self.bn_values)
        oh, ow, _ = dw.shape
        pw = conv_cost(cin, oh, ow, self.filters, 1, 1, 0, self.use_bias, True, self.bn_values)
        return Cost(pw.shape, cin * dw.params + pw.params, cin * dw.nontrainable + pw.nontrainable,
                    cin * dw.macs + pw.macs)

"""Feature-map arithmetic: output sizes of windows (conv, pooling), and what a layer costs.

Pure integer arithmetic, shared by the layer kinds' cost rules (`kinds`), the feature-map walk (`walk`)
and the Keras pooling blocks (nn/blocks.py, which pad for ceil-mode pools with `pool_out`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """What a layer makes of its input: output shape, trainable and non-trainable parameters, multiply-adds."""

    shape: tuple
    params: int = 0
    nontrainable: int = 0
    macs: int = 0


def axis(value, i: int):
    """One axis of a size, stride or padding that is one value for both axes or [height, width]."""
    return value[i] if isinstance(value, (tuple, list)) else value


def pair_text(value) -> str:
    """`3` or `1x7`: a window as messages write it."""
    return f"{value[0]}x{value[1]}" if isinstance(value, (tuple, list)) else str(value)


def out_size(n: int, k: int, s: int, padding: str | int) -> int:
    """Output size of a window `k` with stride `s` over `n` pixels: Keras "same", "valid", or N pixels per side."""
    if padding == "same":
        return math.ceil(n / s)
    pad = 0 if padding == "valid" else padding
    return (n + 2 * pad - k) // s + 1


def pool_out(n: int, k: int, s: int, padding: str | int, ceil_mode: bool = False) -> int:
    """Output size of a pooling window: Keras "same", or explicit padding rounded down (floor) or up (ceil,
    as PyTorch's ceil_mode and Caffe, where the last window must start inside the input or its left padding)."""
    if padding == "same" or not ceil_mode:
        return out_size(n, k, s, padding)
    pad = 0 if padding == "valid" else padding
    out = -(-(n + 2 * pad - k) // s) + 1
    if (out - 1) * s >= n + pad:
        out -= 1
    return out


def conv_cost(cin: int, h: int, w: int, filters: int, kernel, stride, padding, use_bias: bool,
              batch_norm: bool, bn_values: int = 4, depthwise: bool = False, groups: int = 1) -> Cost:
    """A convolution of `cin` channels on an h x w map; kernel, stride and padding are one value or one per
    axis. With BatchNorm: its `bn_values` per filter (4, or 3 without scale or center); `depthwise`: a
    depthwise-separable convolution (one kxk filter per input channel, then a 1x1 to `filters`); `groups`: each
    filter reads cin / groups channels (PyTorch's grouped and depthwise convolutions)."""
    kh, kw = axis(kernel, 0), axis(kernel, 1)
    oh = out_size(h, kh, axis(stride, 0), axis(padding, 0))
    ow = out_size(w, kw, axis(stride, 1), axis(padding, 1))
    per_filter = kh * kw * (cin // groups)
    weights = kh * kw * cin + cin * filters if depthwise else per_filter * filters
    macs = oh * ow * (kh * kw * cin + cin * filters) if depthwise else oh * ow * per_filter * filters
    params = weights + (filters if use_bias else 0)
    nontrainable = 0
    if batch_norm:
        params += (bn_values - 2) * filters
        nontrainable = 2 * filters
    return Cost((oh, ow, filters), params, nontrainable, macs)


def shape_text(shape: tuple) -> str:
    """`28x28x192`: a shape as messages and notes write it."""
    return "x".join(map(str, shape))


def padding_text(padding) -> str:
    """`padding 2` or `same padding`, as a message names a layer's padding."""
    return f"padding {padding}" if isinstance(padding, int) else f"{padding} padding"

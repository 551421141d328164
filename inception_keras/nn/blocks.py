"""Keras building blocks: a conv unit, the Inception block, LRN, pooling. Each function takes a typed layer from
`lang.kinds` and a tensor and returns a tensor; layer names come from the spec (`3a.3x3_reduce`), so
`model.summary()` and checkpoints read like the paper's Table 1. (The MetaNeXt kinds' are in blocks_next.py.)"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from inception_keras.lang import kinds as S
from inception_keras.lang.geometry import pool_out


def lrn(x, depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75):
    """Across-channel LRN with keras.ops (any backend): x / (bias + alpha * sum of squares over the
    2*depth_radius+1 neighbouring channels) ** beta, in float32."""
    dtype = x.dtype
    x = ops.cast(x, "float32")
    squares = ops.pad(ops.square(x), [(0, 0)] * (len(x.shape) - 1) + [(depth_radius + 1, depth_radius)])
    cumulative = ops.cumsum(squares, axis=-1)
    n = 2 * depth_radius + 1
    window = cumulative[..., n:] - cumulative[..., :-n]
    return ops.cast(x / ops.power(bias + alpha * window, beta), dtype)


@keras.saving.register_keras_serializable(package="inception_keras")
class LocalResponseNormalization(layers.Layer):
    """Caffe's across-channel LRN in TensorFlow's terms (`tf.nn.local_response_normalization`).

    Caffe's (local_size n, alpha, beta, k) is depth_radius (n-1)/2, alpha/n, beta, bias k:
    Caffe divides alpha by the window size, TensorFlow does not. On the TensorFlow backend the fused
    TensorFlow op runs; on others the same formula in keras.ops (`lrn`).
    """

    def __init__(self, depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius, self.bias, self.alpha, self.beta = depth_radius, bias, alpha, beta

    def call(self, x):
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            y = tf.nn.local_response_normalization(tf.cast(x, "float32"), depth_radius=self.depth_radius,
                                                   bias=self.bias, alpha=self.alpha, beta=self.beta)
            return tf.cast(y, x.dtype)
        return lrn(x, self.depth_radius, self.bias, self.alpha, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias,
                "alpha": self.alpha, "beta": self.beta}


@keras.saving.register_keras_serializable(package="inception_keras")
class Padding2D(layers.Layer):
    """Pad height and width with 0 or, for max pooling, with -inf: `padding` pixels on every side, or
    [[top, bottom], [left, right]].

    The explicit padding of PyTorch and MXNet (`padding=N`): for stride 2, Keras's "same" pads the bottom
    and right more than the top and left, which shifts the output by a pixel. Ceil-mode pooling pads the
    bottom and right a little more for its last, partial window.
    """

    def __init__(self, padding, fill: str = "zero", **kwargs):
        super().__init__(**kwargs)
        if fill not in ("zero", "-inf"):
            raise ValueError(f"fill must be 'zero' or '-inf', got {fill!r}")
        if isinstance(padding, int):
            padding = [[padding, padding], [padding, padding]]
        self.padding, self.fill = [[int(a), int(b)] for a, b in padding], fill

    def call(self, x):
        value = float("-inf") if self.fill == "-inf" else 0.0
        return keras.ops.pad(x, [[0, 0], *self.padding, [0, 0]], constant_values=value)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (top, bottom), (left, right) = self.padding
        return (n, None if h is None else h + top + bottom, None if w is None else w + left + right, c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "fill": self.fill}


@keras.saving.register_keras_serializable(package="inception_keras")
class SymmetricPadding2D(Padding2D):
    """The same padding on every side (the name model.keras files of earlier versions use)."""


@keras.saving.register_keras_serializable(package="inception_keras")
class Rescale2D(layers.Layer):
    """Multiply each spatial position by its own constant: a ceil-mode average pool's window sizes (the last,
    partial windows average over fewer values, as PyTorch and Caffe count them)."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = [[float(v) for v in row] for row in scale]

    def call(self, x):
        return x * ops.convert_to_tensor(np.asarray(self.scale, "float32")[None, :, :, None], dtype=x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="inception_keras")
class InputNormalization(layers.Layer):
    """(x - mean) / std per channel, in float32: what an architecture's `normalize` declares its input
    expects, applied to the [0, 1] images the data pipeline (and `predict`) feeds. No weights: the constants
    are in the layer's config, so a model.keras file carries them."""

    def __init__(self, mean, std, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mean, self.std = [float(v) for v in mean], [float(v) for v in std]

    def call(self, x):
        mean = ops.convert_to_tensor(np.asarray(self.mean, "float32"), dtype=x.dtype)
        std = ops.convert_to_tensor(np.asarray(self.std, "float32"), dtype=x.dtype)
        return (x - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


def normalize_input(spec, x):
    """The architecture's `normalize` as the model's first layer (`input.normalize`), or x unchanged."""
    if spec.normalize is None:
        return x
    mean, std = spec.normalize.per_channel(spec.input[2])
    return InputNormalization(mean, std, name="input.normalize")(x)


@keras.saving.register_keras_serializable(package="inception_keras")
class AdaptiveAveragePooling2D(layers.AdaptiveAveragePooling2D):
    """PyTorch's AdaptiveAvgPool2d on channels-last maps (a fixed output size from any input size; windows that
    may differ in size and overlap when the input is not a multiple of the output) is Keras' own layer since
    Keras 3.13: cell i averages rows floor(i*H/out) .. ceil((i+1)*H/out) - 1, PyTorch's windows. Checked against
    them written out, at sizes that do not divide and upsampling, by tests/lang/test_arch.py, and against the einsum
    with a [out, H] averaging matrix this class computed before Keras had the layer (equal to 1.2e-7 in float32).

    This subclass only keeps the name saved models use, `inception_keras>AdaptiveAveragePooling2D`, and its
    config ({output_size: int}, channels-last): model.keras files written before Keras had the layer load into
    it, and files written now load with the code that wrote the older ones."""

    def __init__(self, output_size, **kwargs):
        kwargs.pop("data_format", None)  # always channels-last, as the project's maps are
        super().__init__(int(output_size), data_format="channels_last", **kwargs)
        self.size = int(output_size)

    def get_config(self):
        config = {**super().get_config(), "output_size": self.size}
        config.pop("data_format", None)
        return config


BUILDERS: dict = {}


def builds(kind: type):
    """Register the Keras builder of a layer kind: fn(layer, x, dtype=None) -> tensor."""

    def register(fn):
        BUILDERS[kind] = fn
        return fn

    return register


def apply(layer, x, dtype=None):
    """Apply one spec layer to a tensor. `dtype` forces a layer's dtype (float32 logits under mixed precision)."""
    try:
        build = BUILDERS[type(layer)]
    except KeyError:
        raise TypeError(f"no Keras builder registered for layer kind {type(layer).__name__}") from None
    return build(layer, x, dtype=dtype)


def _explicit(padding, x, name: str, fill: str = "zero"):
    """Apply an integer (or [height, width]) padding as a layer; return (x, the padding left for the Keras
    layer)."""
    if isinstance(padding, str):
        return x, padding
    if isinstance(padding, tuple):
        padding = [[padding[0], padding[0]], [padding[1], padding[1]]]
    if padding != 0 and padding != [[0, 0], [0, 0]]:
        x = Padding2D(padding, fill, name=f"{name}.pad")(x)
    return x, "valid"


def _bn(c, x, name: str):
    """The BatchNorm of a conv layer, with its epsilon, momentum, center and scale."""
    return layers.BatchNormalization(epsilon=c.bn_epsilon, momentum=c.bn_momentum, center=c.bn_center,
                                     scale=c.bn_scale, name=name)(x)


@builds(S.Conv)
def conv(c: S.Conv, x, dtype=None):
    """conv + activation, or conv -> BatchNorm -> activation."""
    act = None if c.activation == "linear" else c.activation
    x, padding = _explicit(c.padding, x, c.name)
    common = dict(strides=c.stride, padding=padding, use_bias=c.use_bias, activation=None if c.batch_norm else act,
                  name=c.name)
    if c.groups > 1 and c.groups == c.filters == x.shape[-1]:  # depthwise: Keras' own layer, fast on CPU
        x = layers.DepthwiseConv2D(c.kernel, depthwise_initializer=c.initializer, **common)(x)
    else:
        x = layers.Conv2D(c.filters, c.kernel, groups=c.groups, kernel_initializer=c.initializer, **common)(x)
    if c.batch_norm:
        x = _bn(c, x, f"{c.name}.bn")
        if act:
            x = layers.Activation(act, name=f"{c.name}.{act}")(x)
    return x


@builds(S.SepConv)
def sepconv(c: S.SepConv, x, dtype=None):
    """Depthwise-separable conv (+ BatchNorm) + activation; with depthwise_bn, BatchNorm and the activation after
    the depthwise step too (DepthwiseConv2D `NAME.dw`, then a 1x1 Conv2D `NAME`)."""
    act = None if c.activation == "linear" else c.activation
    x, padding = _explicit(c.padding, x, c.name)
    if c.depthwise_bn:
        x = layers.DepthwiseConv2D(c.kernel, strides=c.stride, padding=padding, use_bias=c.use_bias,
                                   depthwise_initializer=c.initializer, name=f"{c.name}.dw")(x)
        x = _bn(c, x, f"{c.name}.dw.bn")
        x = layers.Activation(act, name=f"{c.name}.dw.{act}")(x) if act else x
        return conv(S.Conv(**c.conv_settings(), name=c.name, filters=c.filters, kernel=1, padding="valid"), x)
    x = layers.SeparableConv2D(c.filters, c.kernel, strides=c.stride, padding=padding, use_bias=c.use_bias,
                               depth_multiplier=c.depth_multiplier,
                               activation=None if c.batch_norm else act, depthwise_initializer=c.initializer,
                               pointwise_initializer=c.initializer, name=c.name)(x)
    if c.batch_norm:
        x = _bn(c, x, f"{c.name}.bn")
        if act:
            x = layers.Activation(act, name=f"{c.name}.{act}")(x)
    return x


@keras.saving.register_keras_serializable(package="inception_keras")
class ScaledSum(layers.Layer):
    """shortcut + scale * residual (Inception-ResNet's `x + scale * f(x)`, in the order Keras' applications
    compute it)."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="inception_keras")
class ChannelSlice(layers.Layer):
    """Channels [start, start + size) of a map: a branch's slice with `split` (torch.split on dim 1)."""

    def __init__(self, start: int, size: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.size = int(start), int(size)

    def call(self, x):
        return x[..., self.start:self.start + self.size]

    def get_config(self):
        return {**super().get_config(), "start": self.start, "size": self.size}


def channel_slices(b: S.Branch, x) -> list:
    """The input of each branch of `b`: x itself, or with `split` its slice of the channels."""
    if b.split is None:
        return [x] * len(b.branches)
    return [ChannelSlice(sum(b.split[:i]), n, name=f"{b.name}.{i + 1}.slice")(x) for i, n in enumerate(b.split)]


def _chain(items, x):
    for layer in items:
        x = apply(layer, x)
    return x


@builds(S.Branch)
def branch(b: S.Branch, x, dtype=None):
    """Parallel branches joined (concat or add), then `then`; with residual, shortcut + scale * that."""
    outs = [_chain(items, xi) for items, xi in zip(b.branches, channel_slices(b, x))]
    last = b.activation == "linear" and not b.then and not b.residual
    name = b.name if last else f"{b.name}.join"
    if len(outs) == 1:
        y = outs[0]
    elif b.join == "concat":
        y = layers.Concatenate(axis=-1, name=name)(outs)
    else:
        y = layers.Add(name=name)(outs)
    y = _chain(b.then, y)
    if b.residual:
        short = _chain(b.shortcut, x)
        plain = b.activation == "linear"
        sname = b.name if plain else f"{b.name}.sum"
        y = layers.Add(name=sname)([y, short]) if b.scale == 1.0 else ScaledSum(b.scale, name=sname)([short, y])
    if b.activation != "linear":
        y = layers.Activation(b.activation, name=b.name)(y)
    return y


@builds(S.MaxPool)
@builds(S.AvgPool)
def pool(p: S.Pool, x, dtype=None):
    is_max = isinstance(p, S.MaxPool)
    cls = layers.MaxPooling2D if is_max else layers.AveragePooling2D
    if p.ceil_mode:
        return _ceil_pool(p, x, cls, is_max)
    x, padding = _explicit(p.padding, x, p.name, "-inf" if is_max else "zero")
    return cls(p.size, strides=p.stride, padding=padding, name=p.name)(x)


def _ceil_pool(p: S.Pool, x, cls, is_max: bool):
    """Ceil-mode pooling: explicit padding, then bottom/right padding for the last window; average pools
    then divide by each window's size within the padded input (PyTorch's count_include_pad, Caffe's AVE)."""
    _, h, w, _ = x.shape
    pad = 0 if p.padding == "valid" else p.padding
    sizes = [pool_out(n, p.size, p.stride, p.padding, True) for n in (h, w)]
    extra = [max(0, (out - 1) * p.stride + p.size - (n + 2 * pad)) for out, n in zip(sizes, (h, w))]
    if pad or any(extra):
        x = Padding2D([[pad, pad + extra[0]], [pad, pad + extra[1]]], "-inf" if is_max else "zero",
                      name=f"{p.name}.pad")(x)
    if is_max or not any(extra):
        return cls(p.size, strides=p.stride, padding="valid", name=p.name)(x)
    y = cls(p.size, strides=p.stride, padding="valid", name=f"{p.name}.window")(x)
    counts = [np.minimum(np.arange(out) * p.stride + p.size, n + 2 * pad) - np.arange(out) * p.stride
              for out, n in zip(sizes, (h, w))]
    return Rescale2D(p.size * p.size / np.outer(*counts), name=p.name)(y)


@builds(S.Inception)
def inception(b: S.Inception, x, dtype=None):
    """The Inception block: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | pool -> 1x1, concatenated on channels."""
    c1x1, c3r, c3, c5r, c5, cproj = b.convs()
    branch1 = conv(c1x1, x)
    branch2 = conv(c3, conv(c3r, x))
    branch3 = conv(c5, conv(c5r, x))
    kind = S.MaxPool if b.pool_type == "max" else S.AvgPool
    pooled = pool(kind(name=f"{b.name}.pool", size=b.pool_size, stride=1, padding="same"), x)
    branch4 = conv(cproj, pooled)
    return layers.Concatenate(axis=-1, name=b.name)([branch1, branch2, branch3, branch4])


@builds(S.AdaptiveAvgPool)
def adaptive_avgpool(layer, x, dtype=None):
    return AdaptiveAveragePooling2D(layer.output, name=layer.name)(x)


@builds(S.GlobalAvgPool)
def global_avgpool(layer, x, dtype=None):
    return layers.GlobalAveragePooling2D(name=layer.name)(x)


@builds(S.Flatten)
def flatten(layer, x, dtype=None):
    if layer.order == "channels_first":
        x = layers.Permute((3, 1, 2), name=f"{layer.name}.chw")(x)
    return layers.Flatten(name=layer.name)(x)


@builds(S.Dropout)
def dropout(layer, x, dtype=None):
    return layers.Dropout(layer.rate, name=layer.name)(x)


@builds(S.Activation)
def activation(layer, x, dtype=None):
    return layers.Activation(layer.function, name=layer.name, dtype=dtype)(x)


@builds(S.Dense)
def dense(layer, x, dtype=None):
    act = None if layer.activation == "linear" else layer.activation
    return layers.Dense(layer.units, activation=act, use_bias=layer.use_bias, kernel_initializer=layer.initializer,
                        name=layer.name, dtype=dtype)(x)


@builds(S.BatchNorm)
def batch_norm(layer, x, dtype=None):
    return layers.BatchNormalization(epsilon=layer.epsilon, momentum=layer.momentum, center=layer.center,
                                     scale=layer.scale, name=layer.name)(x)


@builds(S.LRN)
def local_response_normalization(layer, x, dtype=None):
    return LocalResponseNormalization(layer.depth_radius, layer.k, layer.tf_alpha, layer.beta, name=layer.name)(x)

"""The inference forms of a model: BatchNorm folded into the layer before it (float32), or that folded model
rebuilt in mixed_bfloat16 with the same weights (bfloat16).

    inference_model(model, precision="float32")   # outputs equal to `model(x, training=False)` to float32 round-off
    inference_model(model, precision="bfloat16")  # the same, computing in bfloat16 (logits in float32)

A BatchNormalization is folded when its one input is the output of a Conv2D, DepthwiseConv2D,
SeparableConv2D or Dense layer with no activation, called once, whose output nothing else reads, and when it
normalises the last axis. Then, with s = gamma / sqrt(var + epsilon) (gamma = 1 for `scale: false`, beta = 0
for `center: false`), the layer's kernel becomes kernel * s on its output channels and its bias
(bias - mean) * s + beta; the BatchNorm becomes a FoldedBatchNorm, which returns its input. A BatchNorm after
a concatenation, an add or a pool stays as it is.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

PRECISIONS = ("float32", "bfloat16")
FOLDABLE = (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D, layers.Dense)


@keras.saving.register_keras_serializable(package="inception_keras")
class FoldedBatchNorm(layers.Layer):
    """Where a folded BatchNorm was: returns its input (no op in the graph). Takes BatchNorm's call arguments."""

    def call(self, inputs, training=None, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def _producer(layer):
    """The layer whose output is `layer`'s one input, or None."""
    nodes = layer._inbound_nodes  # noqa: SLF001
    if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
        return None
    history = nodes[0].input_tensors[0]._keras_history  # noqa: SLF001
    return history.operation


def foldable_pairs(model) -> dict:
    """{BatchNorm name: name of the layer it folds into} for every BatchNorm of `model` that can be folded."""
    pairs = {}
    for bn in model.layers:
        if not isinstance(bn, layers.BatchNormalization) or bn.axis not in (-1, len(bn.input.shape) - 1):
            continue
        prev = _producer(bn)
        if not isinstance(prev, FOLDABLE) or prev.get_config().get("activation") not in ("linear", None):
            continue
        if len(prev._inbound_nodes) != 1 or len(prev._outbound_nodes) != 1:  # noqa: SLF001
            continue
        if any(prev.output is out for out in model.outputs):
            continue
        pairs[bn.name] = prev.name
    return pairs


def _scale_shift(bn) -> tuple[np.ndarray, np.ndarray]:
    var = np.asarray(bn.moving_variance, np.float64)
    mean = np.asarray(bn.moving_mean, np.float64)
    gamma = np.asarray(bn.gamma, np.float64) if bn.scale else np.ones_like(var)
    beta = np.asarray(bn.beta, np.float64) if bn.center else np.zeros_like(var)
    s = gamma / np.sqrt(var + bn.epsilon)
    return s, beta - mean * s


def _folded_weights(layer, bn) -> list[np.ndarray]:
    """`layer`'s weights with `bn` folded in (the layer given a bias)."""
    s, shift = _scale_shift(bn)
    w = [np.asarray(v, np.float64) for v in layer.get_weights()]
    bias = w[-1] if layer.use_bias else np.zeros_like(s)
    kernels = w[:-1] if layer.use_bias else w
    if isinstance(layer, layers.DepthwiseConv2D):
        k = kernels[0]
        kernels = [(k.reshape(*k.shape[:2], -1) * s).reshape(k.shape)]
    else:  # Conv2D, Dense: [..., out]; SeparableConv2D: [depthwise, pointwise [..., out]]
        kernels = [*kernels[:-1], kernels[-1] * s]
    return [k.astype(np.float32) for k in (*kernels, bias * s + shift)]


def fold_batchnorm(model) -> keras.Model:
    """A copy of `model` with every foldable BatchNorm folded (module docstring); the weights of the other layers
    are copied as they are."""
    pairs = foldable_pairs(model)
    into = set(pairs.values())

    def rebuild(layer):
        config = layer.get_config()
        if layer.name in pairs:
            return FoldedBatchNorm(name=layer.name)
        if layer.name in into:
            config = {**config, "use_bias": True}
        return layer.__class__.from_config(config)

    folded = keras.models.clone_model(model, clone_function=rebuild)
    bn_of = {v: k for k, v in pairs.items()}
    for layer in model.layers:
        if layer.name in bn_of:
            folded.get_layer(layer.name).set_weights(_folded_weights(layer, model.get_layer(bn_of[layer.name])))
        elif layer.name not in pairs and layer.weights:
            folded.get_layer(layer.name).set_weights(layer.get_weights())
    return folded


def _float32_tail(model) -> set:
    """Names of the layers that stay float32 in the bfloat16 form: each output's layer and, when that is an
    activation, the Dense (or whatever single layer) before it."""
    keep = set()
    for out in model.outputs:
        layer = out._keras_history.operation  # noqa: SLF001
        keep.add(layer.name)
        if isinstance(layer, (layers.Activation, layers.Softmax)):
            prev = _producer(layer)
            if isinstance(prev, layers.Dense):
                keep.add(prev.name)
    return keep


def as_bfloat16(model) -> keras.Model:
    """`model` rebuilt with every layer in mixed_bfloat16 (bfloat16 compute, float32 variables) but its output
    layers, which stay float32, and the same weights."""
    keep = _float32_tail(model)

    def rebuild(layer):
        dtype = "float32" if layer.name in keep else "mixed_bfloat16"
        return layer.__class__.from_config({**layer.get_config(), "dtype": dtype})

    was = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        bf16 = keras.models.clone_model(model, clone_function=rebuild)
    finally:
        keras.mixed_precision.set_global_policy(was)
    bf16.set_weights(model.get_weights())
    return bf16


def float32_copy(model) -> keras.Model:
    """`model` rebuilt with every layer computing in float32 (a mixed-precision model's variables are float32,
    so this is exact); `model` itself when it already is."""
    if all(layer.dtype_policy.compute_dtype == "float32" for layer in model.layers):
        return model

    def rebuild(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    was = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        f32 = keras.models.clone_model(model, clone_function=rebuild)
    finally:
        keras.mixed_precision.set_global_policy(was)
    f32.set_weights(model.get_weights())
    return f32


def inference_model(model, precision: str = "float32") -> keras.Model:
    """The inference form of `model` (one output): BatchNorm folded, in float32 or bfloat16 (module docstring).
    `model` is left as it is."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    folded = fold_batchnorm(float32_copy(model))
    return folded if precision == "float32" else as_bfloat16(folded)

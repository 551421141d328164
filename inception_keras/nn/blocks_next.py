"""Keras layers and builders of the MetaNeXt kinds (InceptionNeXt): a slice of the channels (a `branch` with
`split`), layer scale, stochastic depth and layer normalization. Registered with `blocks.builds`; imported at
the end of nn/blocks.py, so whatever imports blocks has them."""
from __future__ import annotations

import keras
from keras import layers, ops

from inception_keras.lang import kinds as S
from inception_keras.nn.blocks import builds


@keras.saving.register_keras_serializable(package="inception_keras")
class ChannelSlice(layers.Layer):
    """Channels [start, start + size) of a channels-last map: one branch's slice of a `branch` with `split`
    (torch.split on dim 1)."""

    def __init__(self, start: int, size: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.size = int(start), int(size)

    def call(self, x):
        return x[..., self.start:self.start + self.size]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.size)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "size": self.size}


def channel_slices(b: S.Branch, x) -> list:
    """The input of each branch of `b`: x itself, or with `split` its slice of the channels."""
    if b.split is None:
        return [x] * len(b.branches)
    starts = [sum(b.split[:i]) for i in range(len(b.split))]
    return [ChannelSlice(s, n, name=f"{b.name}.{i + 1}.slice")(x) for i, (s, n) in enumerate(zip(starts, b.split))]


@keras.saving.register_keras_serializable(package="inception_keras")
class LayerScale(layers.Layer):
    """x * gamma, gamma a learned factor per channel (timm's `x.mul(self.gamma.reshape(1, -1, 1, 1))`)."""

    def __init__(self, init: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.init = float(init)

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(input_shape[-1],),
                                     initializer=keras.initializers.Constant(self.init))

    def call(self, x):
        return x * ops.cast(self.gamma, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init": self.init}


@keras.saving.register_keras_serializable(package="inception_keras")
class DropPath(layers.Layer):
    """Stochastic depth (timm's DropPath, scale_by_keep): in training each sample is kept with probability
    1 - rate and then divided by it, or zeroed whole; the identity at inference. Seeded: the same seed gives
    the same drops."""

    def __init__(self, rate: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = float(rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        mask = ops.floor(keep + keras.random.uniform(shape, seed=self.seed_generator, dtype=x.dtype))
        return x * mask / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@builds(S.LayerNorm)
def layer_norm(layer, x, dtype=None):
    return layers.LayerNormalization(axis=-1, epsilon=layer.epsilon, name=layer.name)(x)


@builds(S.LayerScale)
def layer_scale(layer, x, dtype=None):
    return LayerScale(layer.init, name=layer.name)(x)


@builds(S.DropPath)
def drop_path(layer, x, dtype=None):
    return DropPath(layer.rate, layer.seed, name=layer.name)(x)

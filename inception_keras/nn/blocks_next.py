"""Keras layers and builders of the MetaNeXt kinds (InceptionNeXt): layer scale, stochastic depth and layer
normalization (a `branch` with `split` is nn/blocks.py's). Registered with `blocks.builds`; imported where blocks
is (nn/builder.py, runs/loader.py), so a model builds and a model.keras file loads with them."""
from __future__ import annotations

import keras
from keras import layers, ops

from inception_keras.lang import kinds as S
from inception_keras.nn.blocks import builds


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

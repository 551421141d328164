"""Core kinds: `flatten`, `dropout`, `activation`, `dense`."""
from __future__ import annotations

from dataclasses import dataclass, replace

from inception_keras.lang.geometry import Cost
from inception_keras.lang.kinds.base import (
    ACTIVATIONS,
    INITIALIZERS,
    MAX_CHANNELS,
    Layer,
    inherited,
    layer_kind,
)
from inception_keras.lang.options import option


@layer_kind
@dataclass(frozen=True, kw_only=True)
class Flatten(Layer):
    KIND = "flatten"
    DOC = "HxWxC -> H*W*C"

    order: str = option("choice", "order of the values: channels_last (Keras: row, column, channel) or "
                                  "channels_first (PyTorch's torch.flatten of N x C x H x W: channel, row, column; "
                                  "what a dense layer with imported weights expects)", "channels_last",
                        choices=("channels_last", "channels_first"))

    def cost(self, shape):
        return Cost((shape[0] * shape[1] * shape[2],))


@layer_kind
@dataclass(frozen=True, kw_only=True)
class Dropout(Layer):
    KIND = "dropout"
    DOC = "dropout (training only)"
    INPUT = "any"

    rate: float = option("rate", "fraction of units dropped while training")

    def cost(self, shape):
        return Cost(shape)


@layer_kind
@dataclass(frozen=True, kw_only=True)
class Activation(Layer):
    KIND = "activation"
    DOC = "an activation function on its own (after a batch_norm, or after a residual sum)"
    INPUT = "any"

    function: str = option("choice", "the activation", "relu", choices=ACTIVATIONS)

    def cost(self, shape):
        return Cost(shape)


@layer_kind
@dataclass(frozen=True, kw_only=True)
class Dense(Layer):
    KIND = "dense"
    DOC = "fully connected layer on a flat input"
    INPUT = "flat"

    units: int | None = option("pos_int", "output units (default: `classes`)", None, nullable=True, channels=True,
                               maximum=MAX_CHANNELS)
    activation: str = option("choice", "activation (dense layers are linear unless they say so)", "linear",
                             choices=ACTIVATIONS)
    use_bias: bool = option("bool", "has a bias", True)
    initializer: str = inherited("initializer", "choice", INITIALIZERS)

    def resolved(self, classes):
        return self if self.units else replace(self, units=classes)

    def cost(self, shape):
        n = shape[0]
        return Cost((self.units,), n * self.units + (self.units if self.use_bias else 0), 0, n * self.units)

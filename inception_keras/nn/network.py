"""A spec -> the keras.Model keras.applications' arguments describe: a classifier with its head (and a
`classifier_activation` on its last layer), a backbone with `pooling` None|avg|max, or the stage outputs
(`features`), on any input size and from a user's own `input_tensor`. Built with keras.ops layers only, so the
model runs on every Keras backend (TensorFlow, JAX, PyTorch)."""
from __future__ import annotations

from dataclasses import replace

import keras
from keras import layers

from inception_keras.lang import kinds as S
from inception_keras.lang.arch import ArchSpec
from inception_keras.nn import blocks

POOLINGS = (None, "avg", "max")


def model_input(spec: ArchSpec, input_shape=None, input_tensor=None):
    """(the tensor the layers start from, the model's inputs), as keras.applications makes them."""
    shape = tuple(input_shape) if input_shape is not None else tuple(spec.input)
    if input_tensor is None:
        x = keras.Input(shape, name="input")
        return x, x
    if not keras.backend.is_keras_tensor(input_tensor):
        x = keras.Input(tensor=input_tensor, shape=shape, name="input")
        return x, x
    return input_tensor, keras.utils.get_source_inputs(input_tensor)


def build_network(spec: ArchSpec, *, input_shape=None, input_tensor=None, pooling=None,
                  classifier_activation=None, features: list[str] | None = None, name: str | None = None):
    """The model of `spec` (its inference model: no auxiliary heads). `features`: names of stages whose outputs
    the model gives, as a dict {stage: tensor} in stage order (spec: a backbone); else `pooling` (a backbone:
    None keeps the last feature map, avg|max pool it globally) or `classifier_activation` (a classifier: on its
    last layer; None or "linear" keep the logits)."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of None, 'avg', 'max'; got {pooling!r}")
    x, inputs = model_input(spec, input_shape, input_tensor)
    x = blocks.normalize_input(spec, x)
    outputs = {}
    for stage in spec.stages:
        for i, layer in enumerate(stage.layers):
            if stage is spec.stages[-1] and i == len(stage.layers) - 1 and isinstance(layer, S.Dense):
                if classifier_activation not in (None, "linear"):
                    layer = replace(layer, activation=classifier_activation)
                x = blocks.apply(layer, x, dtype="float32")  # float32 outputs under mixed precision
            else:
                x = blocks.apply(layer, x)
        outputs[stage.name] = x
    if features is not None:
        return keras.Model(inputs, {f: outputs[f] for f in features}, name=name or f"{spec.name}_features")
    if spec.classes is None and pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif spec.classes is None and pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    return keras.Model(inputs, x, name=name or spec.name)

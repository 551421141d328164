"""Weights from a file onto a model `create_model` built, by layer name.

The file is a `.keras` model (any of this project's, with its own architecture) or a `.weights.h5` of the
network's full model (at its default input, with the architecture's classes or the model's). Every layer of the
model with weights takes the file's layer of the same name; a layer of a different shape is an error, except the
classifier's (a different number of classes: the head stays as initialized, as timm's `num_classes` does).
"""
from __future__ import annotations

import os

from inception_keras import safeio
from inception_keras.errors import ConfigError
from inception_keras.lang.parse import load_arch

WEIGHTS_SUFFIXES = (".weights.h5", ".keras")


def source_model(arch_path: str, file: str, classes: int | None):
    """The model the file's weights load into: the `.keras` file's own, or the architecture's full model."""
    import keras

    from inception_keras.nn.network import build_network

    if file.endswith(".keras"):
        return keras.saving.load_model(file, compile=False)
    tried = []
    for n in dict.fromkeys((None, classes)):
        spec = load_arch(arch_path, sets=[("classes", n)] if n else None)
        model = build_network(spec)
        try:
            model.load_weights(file)
            return model
        except ValueError as e:  # another number of classes in the file's head
            tried.append(f"{spec.classes} classes: {str(e).splitlines()[0]}")
    raise ConfigError(f"{safeio.shown(file)}: its weights fit no {os.path.basename(arch_path)} model ("
                      + "; ".join(tried) + ")")


def load_weights(model, arch_path: str, file: str) -> int:
    """Copy the weights of `file` onto `model` by layer name; the number of layers copied."""
    if not str(file).endswith(WEIGHTS_SUFFIXES):
        raise ConfigError(f"weights={safeio.shown(file)}: expected a .weights.h5 or .keras file, a preset name or "
                          "a URL")
    os.close(safeio.open_regular(file, "weights file", safeio.LIMITS["weights"]))  # a regular file, bounded
    head = _classifier(model)
    source = {layer.name: layer for layer in source_model(arch_path, file, _classes(model, head)).layers}
    copied = 0
    for layer in model.layers:
        if not layer.weights or layer.name not in source:
            continue
        values = source[layer.name].get_weights()
        mine = [tuple(w.shape) for w in layer.weights]
        if [tuple(v.shape) for v in values] != mine:
            if layer.name == head:
                continue
            raise ConfigError(f"{safeio.shown(file)}: layer {layer.name} has weights of shapes "
                              f"{[tuple(v.shape) for v in values]} in the file, {mine} in the model (another input "
                              "channel count or width needs weights=None)")
        layer.set_weights(values)
        copied += 1
    if not copied:
        raise ConfigError(f"{safeio.shown(file)}: no layer of the model has a namesake in the file")
    return copied


def _classifier(model) -> str | None:
    """The name of the model's last Dense layer (the classifier), None for a backbone."""
    import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    return dense[-1].name if dense else None


def _classes(model, head: str | None) -> int | None:
    return model.get_layer(head).units if head else None

"""`create_model`: a shipped network by name (or an architecture file) with keras.applications' arguments
(include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation) and timm's
features_only/out_indices; `preprocess_input`: [0, 255] images as a network's weights expect them."""
from __future__ import annotations

import os

import numpy as np

from inception_keras.errors import ConfigError
from inception_keras.lang import catalog
from inception_keras.lang.backbone import load_backbone
from inception_keras.lang.parse import load_arch
from inception_keras.zoo import cache
from inception_keras.zoo.load import load_weights


def create_model(name, weights=None, include_top: bool = True, input_tensor=None, input_shape=None, pooling=None,
                 classes: int | None = None, classifier_activation="softmax", features_only: bool = False,
                 out_indices=None):
    """A Keras model of the network `name` (a shipped name such as `inception_v3`, or an architecture file).

    As keras.applications: `include_top=False` drops the classifier head, `pooling` (None, "avg", "max") then
    pools the last feature map; `input_shape` (H, W, C; H and W may be None) or `input_tensor` set the input;
    `classes` (default: the architecture's) sizes the head; `classifier_activation` goes on its last layer
    (None: logits). `features_only=True`: the outputs of the stages (`out_indices` picks them; default all), a
    dict {stage name: feature map}. `weights`: None, a local `.weights.h5`/`.keras` file (copied by layer
    name; the head is skipped where its shape differs), or a preset name or URL (`zoo.presets`, fetched by `zoo.cache`).
    """
    path = catalog.resolve(name, catalog.ARCH)
    network = os.path.basename(path)[:-len(catalog.SUFFIX)] if path.endswith(catalog.SUFFIX) else str(name)
    default = load_arch(path).input
    head = include_top and not features_only
    fixed = _fixed_size(load_arch(path))
    if not head and input_shape is None and input_tensor is None and not fixed:
        input_shape = (None, None, default[2])  # keras.applications' backbones take any size
    shape = _input_shape(default, input_shape, input_tensor)
    if fixed and None in shape[:2]:
        raise ConfigError(f"{name}: {fixed} fits its windows to the feature map, so the network needs a fixed "
                          f"input size (input_shape=(H, W, C), not {shape})")
    sets = [("input", [d if d is not None else d0 for d, d0 in zip(shape, default)])]
    if head and classes is not None:
        sets.append(("classes", int(classes)))
    spec = load_arch(path, sets=sets) if head else load_backbone(path, sets)
    from inception_keras.nn.network import build_network

    features = _features(spec, out_indices) if features_only else None
    model = build_network(spec, input_shape=shape, input_tensor=input_tensor, pooling=None if head else pooling,
                          classifier_activation=classifier_activation if head else None, features=features)
    if weights is not None:
        local = weights if os.path.isfile(str(weights)) else cache.resolve_weights(network, str(weights))
        load_weights(model, path, local)
    return model


def _input_shape(default, input_shape, input_tensor) -> tuple:
    """The model's input shape (None for a variable height or width), checked as keras.applications does."""
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        return tuple(default)
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[2] is None or any(d is not None and (int(d) != d or d <= 0) for d in shape):
        raise ConfigError(f"input_shape: expected (height, width, channels) with positive sizes (height and width "
                          f"may be None), got {input_shape}")
    return tuple(None if d is None else int(d) for d in shape)


def _fixed_size(spec) -> str | None:
    """The name of a layer that needs a known feature-map size (a ceil-mode or `adapt` pool), or None."""
    def walk(value):
        if isinstance(value, (tuple, list)):
            return next((found for v in value if (found := walk(v))), None)
        if getattr(value, "ceil_mode", False) or getattr(value, "adapt", False):
            return value.name
        if hasattr(value, "__dataclass_fields__") and hasattr(value, "KIND"):
            return next((found for f in value.__dataclass_fields__ if (found := walk(getattr(value, f)))), None)
        return None

    return next((found for stage in spec.stages if (found := walk(stage.layers))), None)


def _features(spec, out_indices) -> list[str]:
    """The stage names `out_indices` picks (negative indices count from the last stage; default: every stage)."""
    names = [s.name for s in spec.stages]
    if out_indices is None:
        return names
    picked = []
    for i in out_indices:
        if not isinstance(i, int) or not -len(names) <= i < len(names):
            raise ConfigError(f"out_indices: {i!r} is no stage index of {spec.name} (stages 0..{len(names) - 1}: "
                              f"{', '.join(names)})")
        picked.append(names[i])
    return picked


def declared_normalize(name):
    """(mean, std) that the network's weights expect of [0, 1] images: its own `normalize`, or that of
    `<name>_imagenet` (the file declaring its ImageNet weights' input); None: [0, 1] images as they are."""
    spec = load_arch(catalog.resolve(name, catalog.ARCH))
    stem = str(name)[:-len(catalog.SUFFIX)] if str(name).endswith(catalog.SUFFIX) else str(name)
    if spec.normalize is None and f"{stem}_imagenet" in catalog.names(catalog.ARCH):
        spec = load_arch(catalog.path_of(f"{stem}_imagenet", catalog.ARCH))
    return None if spec.normalize is None else spec.normalize.per_channel(spec.input[2])


def preprocess_input(x, name):
    """[0, 255] images (channels last) as the network `name`'s weights expect them: (x / 255 - mean) / std with
    the declared normalization (`declared_normalize`), x / 255 where none is declared. NumPy in, NumPy out;
    a tensor in, a tensor of the Keras backend out (keras.applications' preprocess_input does the same)."""
    norm = declared_normalize(name)
    if isinstance(x, (np.ndarray, list, tuple, int, float)):
        x = np.asarray(x, dtype="float32") / 255.0
        return x if norm is None else (x - np.asarray(norm[0], "float32")) / np.asarray(norm[1], "float32")
    from keras import ops

    x = ops.cast(x, "float32") / 255.0
    return x if norm is None else (x - ops.convert_to_tensor(norm[0])) / ops.convert_to_tensor(norm[1])

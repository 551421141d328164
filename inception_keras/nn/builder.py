"""spec -> keras.Model (functional API)."""
from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from inception_keras.errors import ConfigError
from inception_keras.lang import kinds as S
from inception_keras.lang.arch import ArchSpec
from inception_keras.lang.freeze import declared_frozen, is_frozen
from inception_keras.lang.parse import load_arch
from inception_keras.nn import (
    blocks,
    blocks_next,  # noqa: F401 - registers the MetaNeXt kinds' builders
)

MAIN_OUTPUT = "logits"


@dataclass
class Models:
    """`train` has every output (a dict {"logits": ..., "<aux head>": ...} when the spec has auxiliary
    heads); `inference` shares its layers and has the main output only."""

    train: keras.Model
    inference: keras.Model
    loss_weights: dict  # output name -> loss weight

    @property
    def has_aux(self) -> bool:
        return len(self.loss_weights) > 1


def _as_spec(spec_or_path) -> ArchSpec:
    return spec_or_path if isinstance(spec_or_path, ArchSpec) else load_arch(spec_or_path)


def _chain(layer_list, x, float32_last: bool):
    for i, layer in enumerate(layer_list):
        last = i == len(layer_list) - 1
        x = blocks.apply(layer, x, dtype="float32" if last and float32_last and isinstance(layer, S.Dense) else None)
    return x


def _logits(x, name: str):
    """Logits in float32: under mixed precision the loss must not see bfloat16/float16."""
    if keras.backend.standardize_dtype(x.dtype) != "float32":
        x = layers.Activation("linear", dtype="float32", name=f"{name}.float32")(x)
    return x


def _freeze(model, spec: ArchSpec) -> None:
    """The layers declared `trainable: false` (a block's: every layer it builds) made non-trainable; a frozen
    BatchNorm then runs in inference mode, as Keras does."""
    prefixes = declared_frozen(spec)
    for layer in model.layers if prefixes else ():
        if is_frozen(layer.name, prefixes):
            layer.trainable = False


def build_models(spec_or_path) -> Models:
    spec = _as_spec(spec_or_path)
    if spec.classes is None:
        raise ConfigError(f"{spec.name} is a backbone (no `classes`): training, bench and evaluate need a classifier "
                          "(its logits); give the architecture classes and a head")
    models = _build(spec)
    _freeze(models.train, spec)
    return models


def _build(spec: ArchSpec) -> Models:
    inp = keras.Input(spec.input, name="input")
    x = blocks.normalize_input(spec, inp)
    block_out = {}
    n = len(spec.stages)
    for si, stage in enumerate(spec.stages):
        for li, layer in enumerate(stage.layers):
            last = si == n - 1 and li == len(stage.layers) - 1
            x = blocks.apply(layer, x, dtype="float32" if last and isinstance(layer, S.Dense) else None)
            if layer.BLOCK:
                block_out[layer.name] = x
    main = _logits(x, spec.stages[-1].name)
    inference = keras.Model(inp, main, name=spec.name)
    if not spec.aux_heads:
        return Models(inference, inference, {MAIN_OUTPUT: 1.0})
    outputs = {MAIN_OUTPUT: main}
    weights = {MAIN_OUTPUT: 1.0}
    for head in spec.aux_heads:
        outputs[head.name] = _logits(_chain(head.layers, block_out[head.after], True), head.name)
        weights[head.name] = head.loss_weight
    train = keras.Model(inp, outputs, name=f"{spec.name}_train")
    return Models(train, inference, weights)


def build_model(spec_or_path, aux: bool = False) -> keras.Model:
    """Build the Keras model an architecture YAML (or spec) describes.

    By default the inference model (one output, the logits); with `aux=True`
    the training model, whose outputs include the auxiliary heads.
    """
    models = build_models(spec_or_path)
    return models.train if aux else models.inference

"""An architecture: the keys of its file (top level, `defaults`, `normalize`, `aux_heads`) and the resolved spec.

`ArchSpec` is what `parse.load_arch` returns: the network's stages of resolved layers (`kinds`), its
auxiliary heads, and a `Row` per layer or block with the output shape and the cost the feature-map walk
(`walk`) found. The file's keys are declared once, as options on dataclass fields (`options.option`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inception_keras.lang.kinds import ACTIVATIONS, INITIALIZERS
from inception_keras.lang.options import option

# ----------------------------------------------------------------------------- the file's top level


@dataclass(frozen=True, kw_only=True)
class Normalize:
    """`normalize`: per-channel normalization of the input, (x - mean) / std on [0, 1] images."""

    mean: tuple = option("numbers", "subtracted from each channel of the [0, 1] image: one value per input "
                                    "channel, or one for all (ImageNet: [0.485, 0.456, 0.406])")
    std: tuple = option("numbers", "then each channel is divided by it: one value > 0 per input channel, or one "
                                   "for all (ImageNet: [0.229, 0.224, 0.225])")

    def per_channel(self, channels: int) -> tuple[tuple, tuple]:
        """(mean, std) with one value per channel."""
        def widen(v):
            return tuple(v) * channels if len(v) == 1 else tuple(v)

        return widen(self.mean), widen(self.std)


@dataclass(frozen=True, kw_only=True)
class ArchFile:
    """The keys of an architecture file (checked before the layers)."""

    extends: str | None = option("str", "another architecture file (path relative to this one) that this file "
                                        "modifies: its keys are merged, `stages` and `aux_heads` by name (see below)",
                                 None, nullable=True)
    name: str = option("name", "name of the network (used in run directory names)")
    input: tuple = option("shape3", "input size: height, width, channels; every layer's input channels derive "
                                    "from it")
    classes: int | None = option("pos_int", "number of classes: units of `dense` layers that give no `units`; a "
                                            "classifier ends in `classes` logits. null (or left out): a backbone, "
                                            "a network without a classifier head (it ends in a feature map)", None,
                                 nullable=True)
    normalize: dict | None = option("mapping", "what the network's input expects (below): the model's first layer "
                                               "turns the [0, 1] images every pipeline feeds into (x - mean) / std, "
                                               "so training, evaluate, predict and exported models all get it; null: "
                                               "the network takes [0, 1] images as they are", None, nullable=True,
                                    nested=Normalize)
    width: float = option("pos_number", "width multiplier: the channels of every conv and Inception branch, and "
                                        "the units of dense layers that give `units`, are multiplied by it and "
                                        "rounded (at least 1)", 1.0)
    defaults: dict | None = option("mapping", "defaults for every layer, and per layer kind (below)", None,
                                   nullable=True)
    stages: dict = option("mapping", "ordered stages: name -> list of layers; a classifier's last stage ends in "
                                     "`classes` logits (a backbone's need not)")
    templates: dict | None = option("mapping", "block templates: name -> template (below); a stage item "
                                               "`- <name>: {param: value}` is the template's layer with its `$param` "
                                               "values filled in", None, nullable=True)
    aux_heads: dict | None = option("mapping", "auxiliary classifiers (training only): name -> head (below)", None,
                                    nullable=True)


@dataclass(frozen=True, kw_only=True)
class Template:
    """`templates.<name>`: a block written once, used in stages by name with its parameters."""

    params: dict | None = option("mapping", "the template's parameters: name -> default (null: each use must give "
                                            "it); in `layer`, a value `$name` is the parameter's value", None,
                                 nullable=True)
    layer: dict | None = option("mapping", "the layer a use makes (one kind, usually a `branch`; its lists of layers "
                                           "may use other templates); a use may add `name` (the layer's name) and "
                                           "`repeat: N` (N layers named `<name>_1` .. `<name>_N`)", None,
                                nullable=True)
    layers: list | None = option("list", "instead of `layer`: the list of layers a use makes, in the use's place, "
                                         "named `<use name>.<name>` (`pair1.conv2`)", None, nullable=True)


@dataclass(frozen=True, kw_only=True)
class Defaults:
    """`defaults`: what a layer takes when it leaves a key out (besides the per-kind mappings)."""

    activation: str = option("choice", "activation after every conv (and inside Inception blocks)", "relu",
                             choices=ACTIVATIONS)
    padding: Any = option("padding", "padding of conv and pooling layers: same, valid, or N = N zero pixels on "
                                     "every side (PyTorch/MXNet `padding=N`; max pools pad with -inf, avg pools count "
                                     "the padding like their `count_include_pad`)", "same")
    initializer: str = option("choice", "kernel initializer of conv and dense layers (glorot_uniform = Xavier)",
                              "glorot_uniform", choices=INITIALIZERS)
    use_bias: bool = option("bool", "conv layers have a bias", True)
    batch_norm: bool = option("bool", "conv -> BatchNorm -> activation for every conv", False)
    bn_epsilon: float = option("pos_number", "BatchNorm epsilon", 1e-3)
    bn_momentum: float = option("rate", "BatchNorm moving-average momentum (Keras convention: 0.9 = PyTorch's "
                                        "0.1)", 0.99)
    bn_center: bool = option("bool", "BatchNorm adds a learned offset (beta), as Keras' `center`", True)
    bn_scale: bool = option("bool", "BatchNorm multiplies by a learned scale (gamma), as Keras' `scale` "
                                    "(keras.applications' conv2d_bn: false)", True)


# ----------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Stage:
    """A named stage and its resolved layers, in order."""

    name: str
    layers: tuple


@dataclass(frozen=True, kw_only=True)
class AuxHead:
    """`aux_heads.<name>`: an auxiliary classifier, trained with the network and left out of the inference model."""

    name: str = ""
    after: str = option("name", "name of the Inception block whose output feeds the head")
    loss_weight: float = option("nonneg_number", "weight of this head's loss in the training loss", 0.3)
    layers: tuple = option("list", "layers of the head, as in a stage; ends in `classes` logits")


@dataclass(frozen=True)
class Row:
    """One line of the summary: a layer or block, its output and its cost."""

    stage: str  # stage name, or the aux head's name
    name: str
    kind: str
    shape: tuple
    params: int  # trainable
    nontrainable: int
    macs: int
    note: str = ""
    aux: bool = False


@dataclass(frozen=True)
class ArchSpec:
    """A checked, resolved architecture: what the Keras builder builds and the summary and diagram show."""

    name: str
    input: tuple
    classes: int | None  # None: a backbone (no classifier head)
    defaults: dict
    stages: tuple
    aux_heads: tuple = ()
    width: float = 1.0
    source: str | None = None
    normalize: Normalize | None = None  # None: [0, 1] images as they are
    rows: tuple = field(default=(), repr=False, compare=False)
    config: dict = field(default=None, repr=False, compare=False)  # the resolved architecture as YAML data

    @property
    def params(self) -> int:
        return sum(r.params + r.nontrainable for r in self.rows if not r.aux)

    @property
    def trainable_params(self) -> int:
        return sum(r.params for r in self.rows if not r.aux)

    @property
    def params_with_aux(self) -> int:
        return sum(r.params + r.nontrainable for r in self.rows)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows if not r.aux)

    @property
    def adaptations(self) -> list[str]:
        return [r.note for r in self.rows if r.note]


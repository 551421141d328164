"""keras.applications models and their weight files onto networks built from architecture YAML, by structure.

Keras' own model (InceptionV3, InceptionResNetV2, Xception) names its layers `conv2d_57`, `batch_normalization_93`:
names that depend on what was built before in the process. So layers are paired by structure, not name: each
side is cut into units (a layer with weights and the BatchNorm that directly follows it), listed in the order the
model creates them, and each unit of ours takes the first unused unit of the reference with the same layer types
and weight shapes (Xception builds its shortcut before its branch, we after: the shapes tell them apart).
Every unit left over on either side, or of another shape, is one `ConfigError` naming it.

`load_keras_weights(file, arch)` reads what keras.applications reads: the legacy `.h5` it downloads (with or
without its top) or a Keras 3 `.weights.h5`, with Keras' own loader into the reference model built with
weights=None, then copies it onto ours. Which keras.applications model is the reference is read off the network's
layers, not its name: the first of CONSTRUCTORS whose units (at the network's input size) are ours, so any
architecture file whose layers are InceptionV3's (inception_v3.yaml, inception_v3_imagenet.yaml, a copy under
another name) takes its files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import keras

from inception_keras.errors import ConfigError, Problem

CONSTRUCTORS = ("InceptionV3", "InceptionResNetV2", "Xception")  # the keras.applications models we pair with
MIN_SIZE = 75  # the smallest input all three take (InceptionV3 and InceptionResNetV2: 75; Xception: 71)


@dataclass(frozen=True)
class Unit:
    """A layer with weights and the BatchNorm right after it (if any)."""

    layers: tuple

    @property
    def signature(self) -> tuple:
        return tuple((type(la).__name__, tuple(tuple(w.shape) for w in la.weights)) for la in self.layers)

    @property
    def name(self) -> str:
        return " + ".join(la.name for la in self.layers)


def _producer(layer):
    """The layer whose output `layer` takes, or None (several inputs, or a model input)."""
    nodes = getattr(layer, "_inbound_nodes", [])
    if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
        return None
    return nodes[0].input_tensors[0]._keras_history.operation


def units(model) -> list[Unit]:
    """The model's weighted layers grouped into units, in creation order."""
    out: list[list] = []
    where: dict[int, int] = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        source = _producer(layer)
        if isinstance(layer, keras.layers.BatchNormalization) and source is not None and id(source) in where:
            out[where[id(source)]].append(layer)
            continue
        where[id(layer)] = len(out)
        out.append([layer])
    return [Unit(tuple(u)) for u in out]


def pair_units(reference, ours, what: str = "the reference") -> list[tuple[Unit, Unit]]:
    """(reference unit, our unit) for every unit; ConfigError naming each one without a partner."""
    left = units(reference)
    pairs, problems = [], []
    for unit in units(ours):
        match = next((i for i, r in enumerate(left) if r.signature == unit.signature), None)
        if match is None:
            problems.append(Problem(None, unit.name, None, None, f"no layer of {what} has the shapes of {unit.name}: "
                                                                 f"{_shapes(unit)}"))
            continue
        pairs.append((left.pop(match), unit))
    for r in left:
        problems.append(Problem(None, r.name, None, None, f"{what}'s {r.name} ({_shapes(r)}) has no counterpart "
                                                          f"in this network (unused weights)"))
    if problems:
        raise ConfigError(problems)
    return pairs


def _shapes(unit: Unit) -> str:
    return ", ".join(f"{kind} {' '.join('x'.join(map(str, s)) for s in shapes)}" for kind, shapes in unit.signature)


def copy_by_structure(reference, ours, what: str = "the reference") -> int:
    """Copy every weight of `reference` onto `ours`, paired by structure; the number of tensors copied."""
    n = 0
    for ref, mine in pair_units(reference, ours, what):
        for a, b in zip(ref.layers, mine.layers):
            b.set_weights(a.get_weights())
            n += len(a.weights)
    return n


def reference_model(constructor: str, input_shape: tuple, include_top: bool = True, classes: int = 1000):
    """keras.applications.<constructor> (one of CONSTRUCTORS), weights=None, logits out."""
    if constructor not in CONSTRUCTORS:
        raise ConfigError([Problem(None, "", None, None, f"no keras.applications model '{constructor}' here "
                                                         f"(known: {', '.join(CONSTRUCTORS)})")])
    build = getattr(keras.applications, constructor)
    kwargs = dict(weights=None, input_shape=tuple(input_shape), include_top=include_top)
    if include_top:
        kwargs.update(classes=classes, classifier_activation=None)
    return build(**kwargs)


def find_reference(model, input_shape, include_top: bool = True, classes: int = 1000):
    """(constructor, keras.applications model) whose weighted layers are `model`'s: the same units (layer types
    and weight shapes) in any order. ConfigError when none is, saying how far each one is."""
    ours = sorted(u.signature for u in units(model))
    tried = []
    # The weights' shapes do not depend on the input size: each candidate is built at keras.applications' smallest
    # input (75 px), with the network's channels, which is quick at any size the network is built at.
    small = (MIN_SIZE, MIN_SIZE, int(input_shape[-1]))
    for constructor in CONSTRUCTORS:
        try:
            ref = reference_model(constructor, small, include_top, classes)
        except ValueError as e:  # an input keras.applications refuses (too small, not 3 channels with a top)
            tried.append(f"{constructor}: {str(e).splitlines()[0][:160]}")
            continue
        theirs = sorted(u.signature for u in units(ref))
        if theirs == ours:
            return constructor, ref
        tried.append(f"{constructor}: {len(theirs)} units ({ref.count_params():,} parameters)")
    raise ConfigError([Problem(None, "", None, None, f"no keras.applications model has this network's layers "
                                                     f"({len(ours)} units, {model.count_params():,} parameters"
                                                     f"{'' if include_top else ' before the head'}; "
                                                     f"{'; '.join(tried)})")])


def load_keras_weights(file: str, spec, model) -> tuple[int, str]:
    """Read a keras.applications weight file into the reference model (the one whose layers are `model`'s), then
    copy it onto `model` by structure. (tensors copied, the reference's constructor name.)

    A file without top (`*_notop.h5`) fills everything but the last Dense layer, which keeps its values."""
    if not os.path.isfile(file):
        raise ConfigError([Problem(file, "", None, None, "weight file not found")])
    top = _has_top(file)
    target = model if top else keras.Model(model.inputs, _before_head(model))
    constructor, ref = find_reference(target, spec.input, include_top=top, classes=spec.classes)
    try:
        ref.load_weights(file)
    except (ValueError, KeyError, OSError, TypeError) as e:  # what Keras raises for another network's file
        raise ConfigError([Problem(file, "", None, None, f"Keras cannot load this file into "
                                                         f"keras.applications.{constructor}: "
                                                         f"{str(e).splitlines()[0][:300]}")]) from None
    what = f"keras.applications.{constructor}" + ("" if top else " (no top)")
    return copy_by_structure(ref, target, what), constructor


def _before_head(model):
    """The output of our model's last layer before global_avgpool (what a no-top file covers)."""
    pools = [la for la in model.layers if isinstance(la, keras.layers.GlobalAveragePooling2D)]
    if not pools:
        raise ConfigError([Problem(None, "", None, None, "a no-top weight file needs a network that ends in "
                                                         "global_avgpool and dense")])
    return pools[-1].input


def _has_top(file: str) -> bool:
    """Whether a Keras weight file holds the classifier: a layer named predictions in a legacy .h5 (its
    `layer_names`), a Dense layer in a Keras 3 .weights.h5 (which names layers by class: `dense`)."""
    import h5py

    try:
        with h5py.File(file, "r") as f:
            names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs.get("layer_names", [])]
            if names:
                return "predictions" in names
            if "layers" in f:
                return "dense" in f["layers"]
    except OSError as e:
        raise ConfigError([Problem(file, "", None, None, f"not an HDF5 weight file: {e}")]) from None
    raise ConfigError([Problem(file, "", None, None, "not a Keras weight file: neither a legacy .h5 (layer_names) "
                                                     "nor a Keras 3 .weights.h5 (layers)")])


def import_keras(weights_path: str, arch_path: str, out_path: str, sets=None) -> str:
    """Build `arch_path` (with `sets` applied), load a keras.applications weight file into it by structure and
    write `.weights.h5` or `.keras` (never over an existing file without --force, never through a link). Returns
    what it did."""
    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_model
    from inception_keras.weights.imported import check_output, write_model

    out = check_output(out_path)  # --force as the other sources take it
    spec = load_arch(arch_path, sets=sets or None)
    model = build_model(spec)
    n, constructor = load_keras_weights(os.fspath(weights_path), spec, model)
    write_model(out, model, source=os.fspath(weights_path))
    return f"copied {n} tensors from {weights_path} (keras.applications.{constructor}) onto {spec.name}; wrote {out}"

"""The feature-map walk: follow the map through the network at the declared input size.

Each layer gets the shape the layer before gives; what does not fit (a dense layer on a feature map, a
window larger than the map, a classifier that does not end in `classes` logits, a head after no block) is a
`Problem` at the layer's YAML path. The walk fills the spec's `rows` (shape, parameters, multiply-adds of
every layer) and gives each layer as it fits its input (a pool with `adapt: true` shrunk to the map).
"""
from __future__ import annotations

from dataclasses import replace

from inception_keras.errors import Problem
from inception_keras.lang.arch import ArchSpec, AuxHead, Row, Stage
from inception_keras.lang.checks import did_you_mean, raise_if
from inception_keras.lang.geometry import padding_text, shape_text
from inception_keras.lang.kinds import Layer
from inception_keras.lang.reader import Document


def analyze(spec: ArchSpec, doc: Document) -> ArchSpec:
    """Follow the feature map through the network; report what does not fit; fill `rows`."""
    walk = _Walk(spec, doc)
    stages = walk.stages()
    heads = walk.heads()
    raise_if(walk.problems)
    return replace(spec, stages=stages, aux_heads=heads, rows=tuple(walk.rows))


class _Walk:
    """The walk's state: the rows so far, the output shape of every Inception block, the problems found."""

    def __init__(self, spec: ArchSpec, doc: Document):
        self.spec, self.doc = spec, doc
        self.problems: list[Problem] = []
        self.rows: list[Row] = []
        self.block_shapes: dict[str, tuple] = {}
        self.after = f"the input ({shape_text(spec.input)})"  # what the next layer follows, as messages say it

    def stages(self) -> tuple:
        """The stages as their layers fit; the walk stops at the first layer that does not fit."""
        spec, shape, stages = self.spec, self.spec.input, []
        for stage in spec.stages:
            shape, fitted = self.layers(stage.name, stage.layers, shape, False)
            if shape is None:
                break
            stages.append(Stage(stage.name, fitted))
        if shape is not None and spec.classes is not None and shape != (spec.classes,):  # a backbone needs no head
            last = spec.stages[-1].layers[-1] if spec.stages and spec.stages[-1].layers else None
            where = last.path if last is not None else ("stages",)
            self.problems.append(self.doc.problem(where, f"the network must end in {spec.classes} logits (classes: "
                                                         f"{spec.classes}), but its last layer gives "
                                                         f"{shape_text(shape)}; end with global_avgpool and dense"))
        return tuple(stages)

    def heads(self) -> tuple:
        """The auxiliary heads, each walked from the output of the block it follows."""
        return tuple(h for head in self.spec.aux_heads if (h := self.head(head)) is not None)

    def head(self, head: AuxHead) -> AuxHead | None:
        hpath = ("aux_heads", head.name)
        if head.after not in self.block_shapes:
            blocks = list(self.block_shapes)
            self.problems.append(self.doc.problem(hpath + ("after",), f"no Inception block named '{head.after}'"
                                                                     f"{did_you_mean(head.after, blocks)} (blocks: "
                                                                     f"{', '.join(blocks) or 'none'})"))
            return None
        shape = self.block_shapes[head.after]
        self.after = f"{head.after} ({shape_text(shape)})"
        out, fitted = self.layers(head.name, head.layers, shape, True)
        if out is not None and self.spec.classes is None:
            self.problems.append(self.doc.problem(hpath, "an auxiliary head is a classifier, but the network gives "
                                                         "no `classes` (a backbone): give classes, or drop the head"))
        elif out is not None and out != (self.spec.classes,):
            self.problems.append(self.doc.problem(hpath + ("layers",), f"an auxiliary head must end in "
                                                                      f"{self.spec.classes} logits, but gives "
                                                                      f"{shape_text(out)}"))
        return replace(head, layers=fitted)

    def layers(self, owner: str, layers: tuple, shape: tuple, aux: bool) -> tuple[tuple | None, tuple]:
        """(output shape, the layers as they fit), or (None, ()) at the first layer that does not fit."""
        fitted = []
        for layer in layers:
            message = self.input_problem(layer, shape)
            if message:
                self.problems.append(self.doc.problem(layer.path, message))
                return None, ()
            layer, note = layer.fit(shape, self.spec.input)
            cost = layer.cost(shape)
            if any(d <= 0 for d in cost.shape):
                self.problems.append(self.doc.problem(layer.path, self.vanished(layer, shape)))
                return None, ()
            self.rows.append(Row(owner, layer.name, layer.KIND, cost.shape, cost.params, cost.nontrainable,
                                 cost.macs, note, aux))
            if layer.BLOCK:
                self.block_shapes[layer.name] = cost.shape
            fitted.append(layer)
            shape = cost.shape
            self.after = f"{layer.name} ({shape_text(shape)})"
        return shape, tuple(fitted)

    def input_problem(self, layer: Layer, shape: tuple) -> str | None:
        """Why `layer` cannot take an input of `shape` (a map where it needs a vector, or the other way)."""
        spatial = len(shape) == 3
        if layer.INPUT == "map" and not spatial:
            return (f"{layer.KIND} needs a feature map (height x width x channels), but gets a flat vector of "
                    f"{shape[0]} after {self.after}")
        if layer.INPUT == "flat" and spatial:
            return (f"{layer.KIND} needs a flat input, but gets a {shape_text(shape)} feature map after "
                    f"{self.after}; put global_avgpool or flatten before it")
        return layer.shape_problem(shape) if spatial else None

    def vanished(self, layer: Layer, shape: tuple) -> str:
        """The message for a window that leaves no pixel of the feature map."""
        return (f"the feature map vanishes: {layer.KIND} with window {layer.window} "
                f"({padding_text(getattr(layer, 'padding', ''))}) does not fit the {shape_text(shape[:2])} feature "
                f"map after {self.after} at input {shape_text(self.spec.input)}; use padding: same, a smaller "
                f"window, adapt: true or a larger input")

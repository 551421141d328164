"""Block kinds: `inception` (the paper's four branches, Table 1's columns) and `branch` (parallel branches,
nested, joined by concatenation or a residual sum)."""
from __future__ import annotations

from dataclasses import dataclass

from inception_keras.lang.geometry import Cost, shape_text
from inception_keras.lang.kinds.base import (
    ACTIVATIONS,
    MAX_CHANNELS,
    Layer,
    channel_count,
    layer_kind,
)
from inception_keras.lang.kinds.conv import Conv, ConvSettings
from inception_keras.lang.options import option


@layer_kind
@dataclass(frozen=True, kw_only=True)
class Inception(Layer, ConvSettings):
    KIND = "inception"
    DOC = "four parallel branches joined by channel concatenation: 1x1 | 1x1->3x3 | 1x1->5x5 | pool->1x1"
    BLOCK = True

    name: str = option("name", "block name, as in the paper's Table 1 (`3a`); prefixes its layers "
                               "(`3a.3x3_reduce`)")
    n1x1: int = channel_count("branch 1: 1x1 conv filters (Table 1: #1x1)", key="1x1")
    n3x3_reduce: int = channel_count("branch 2: 1x1 reduction before the 3x3 (#3x3 reduce)", key="3x3_reduce")
    n3x3: int = channel_count("branch 2: 3x3 conv filters (#3x3)", key="3x3")
    n5x5_reduce: int = channel_count("branch 3: 1x1 reduction before the 5x5 (#5x5 reduce)", key="5x5_reduce")
    n5x5: int = channel_count("branch 3: 5x5 conv filters (#5x5)", key="5x5")
    pool_proj: int = channel_count("branch 4: 1x1 conv after the pooling (pool proj)")
    kernel_5x5: int = option("pos_int", "kernel of branch 3 (torchvision uses 3)", 5, key="5x5_kernel")
    pool_type: str = option("choice", "branch 4's pooling", "max", choices=("max", "avg"), key="pool")
    pool_size: int = option("pos_int", "branch 4's pooling window (stride 1, same padding)", 3)

    @property
    def out_channels(self) -> int:
        return self.n1x1 + self.n3x3 + self.n5x5 + self.pool_proj

    def convs(self) -> list[Conv]:
        """The block's six convolutions, named like the paper's Caffe model (`3a.3x3_reduce`)."""
        c = dict(stride=1, padding="same", path=self.path, **self.conv_settings())
        n = self.name
        return [Conv(name=f"{n}.1x1", filters=self.n1x1, kernel=1, **c),
                Conv(name=f"{n}.3x3_reduce", filters=self.n3x3_reduce, kernel=1, **c),
                Conv(name=f"{n}.3x3", filters=self.n3x3, kernel=3, **c),
                Conv(name=f"{n}.5x5_reduce", filters=self.n5x5_reduce, kernel=1, **c),
                Conv(name=f"{n}.5x5", filters=self.n5x5, kernel=self.kernel_5x5, **c),
                Conv(name=f"{n}.pool_proj", filters=self.pool_proj, kernel=1, **c)]

    def cost(self, shape):
        h, w, _ = shape
        convs = self.convs()
        ins = [shape, shape, (h, w, convs[1].filters), shape, (h, w, convs[3].filters), shape]
        costs = [conv.cost(s) for conv, s in zip(convs, ins)]
        return Cost((h, w, self.out_channels), sum(c.params for c in costs), sum(c.nontrainable for c in costs),
                    sum(c.macs for c in costs))


def chain_cost(layers: tuple, shape: tuple) -> tuple[tuple, list[Cost]]:
    """The output shape of layers applied in order, and each one's cost."""
    costs = []
    for layer in layers:
        costs.append(layer.cost(shape))
        shape = costs[-1].shape
    return shape, costs


@layer_kind
@dataclass(frozen=True, kw_only=True)
class Branch(Layer):
    KIND = "branch"
    DOC = ("parallel branches, each a list of layers (`[]`: the identity; a branch may hold another branch "
           "layer), joined by channel concatenation or addition, then `then`'s layers; with `residual`, "
           "shortcut(x) + scale * that (Inception-ResNet's `x + scale * f(x)`, Xception's projection "
           "shortcut), then `activation`")
    BLOCK = True

    name: str | None = option("name", "block name (`mixed0`): prefixes its layers (`mixed0.2.conv1` is branch "
                                      "2's first conv); auxiliary heads attach to it by name", None, nullable=True)
    branches: tuple = option("branches", "the parallel branches, each a list of layers")
    split: tuple | None = option("pos_ints", "channels of the input each branch gets, in order (InceptionNeXt's "
                                             "[identity, 3x3, 1x11, 11x1] slices); their sum is the input's "
                                             "channels; null: every branch gets all of the input", None,
                                 nullable=True, maximum=MAX_CHANNELS)
    join: str = option("choice", "how the branches' outputs join: concat (channels) or add (same shapes)",
                       "concat", choices=("concat", "add"))
    then: tuple = option("layers", "layers after the join (Inception-ResNet's linear 1x1 conv)", ())
    residual: bool = option("bool", "add the shortcut: shortcut(x) + scale * then(join(branches(x)))", False)
    scale: float = option("number", "with residual: the factor on the branches' output", 1.0)
    shortcut: tuple = option("layers", "with residual: layers on the shortcut (`[]`: x itself; Xception: a "
                                       "strided 1x1 conv + BatchNorm)", ())
    activation: str = option("choice", "activation of the block's output (after the sum)", "linear",
                             choices=ACTIVATIONS)

    def problems(self):
        out = []
        if not self.residual and (self.shortcut or self.scale != 1.0):
            out.append(("residual", "shortcut and scale belong to a residual block: add `residual: true`"))
        if self.split is not None and len(self.split) != len(self.branches):
            out.append(("split", f"{len(self.split)} slices for {len(self.branches)} branches: give one per "
                                 "branch"))
        return out

    def inputs(self, shape: tuple) -> list:
        """The shape each branch gets: all of `shape`, or its slice of the channels with `split`."""
        if self.split is None or len(shape) != 3:
            return [shape] * len(self.branches)
        return [(*shape[:2], c) for c in self.split]

    def parts(self, shape: tuple) -> tuple[list, tuple | None, list, tuple | None]:
        """(each branch's output shape and costs, the joined shape, then's costs, the shortcut's shape)."""
        outs = [chain_cost(b, s) for b, s in zip(self.branches, self.inputs(shape))]
        shapes = [o[0] for o in outs]
        joined = None
        if all(len(s) == 3 for s in shapes) and len({s[:2] for s in shapes}) == 1:
            if self.join == "concat":
                joined = (*shapes[0][:2], sum(s[2] for s in shapes))
            elif len(set(shapes)) == 1:
                joined = shapes[0]
        then = chain_cost(self.then, joined) if joined else (None, [])
        short = chain_cost(self.shortcut, shape)[0] if self.residual else None
        return outs, joined, then, short

    def shape_problem(self, shape):
        if self.split is not None and (len(shape) != 3 or sum(self.split) != shape[-1]):
            return (f"{self.name}: split {list(self.split)} gives the branches {sum(self.split)} channels, but "
                    f"the block gets {shape_text(shape)}")
        outs, joined, (out, _), short = self.parts(shape)
        for j, (o, _) in enumerate(outs):
            if any(d <= 0 for d in o):
                return (f"{self.name}: the feature map vanishes in branch {j + 1} ({shape_text(o)} from the "
                        f"{shape_text(shape)} map it gets): its windows are larger than the map; use a larger input")
        if joined is None:
            found = ", ".join(shape_text(o[0]) for o in outs)
            return (f"{self.name}: the branches give {found}, which do not {self.join} (a concat needs the same "
                    f"height and width, an add the same shape)")
        if self.residual and out != short:
            return (f"{self.name}: the residual sum needs the same shape on both sides, but the branches give "
                    f"{shape_text(out)} and the shortcut {shape_text(short)}")
        return None

    def cost(self, shape):
        outs, joined, (out, then), _ = self.parts(shape)
        costs = [c for o in outs for c in o[1]] + then
        if self.residual:
            costs += chain_cost(self.shortcut, shape)[1]
        return Cost(out or (0,), sum(c.params for c in costs), sum(c.nontrainable for c in costs),
                    sum(c.macs for c in costs))

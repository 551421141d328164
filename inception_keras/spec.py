"""The architecture language: YAML -> validated, typed spec (no Keras here).

`load_arch(path)` reads an architecture YAML, checks every key, type and size,
derives every layer's input channels, follows the feature map through the
network at the declared input size, and returns an `ArchSpec` whose layers are
fully resolved (defaults applied, names given). All mistakes of a file are
reported at once as a `ConfigError`.

The same walk through the network yields each layer's output shape, parameter
count and multiply-adds (`ArchSpec.rows`), which `inception-keras summary`
prints without building the Keras model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Union

from .errors import ConfigError, Problem
from .overrides import load
from .schema import Document, Field, check_mapping, check_value, describe, did_you_mean, format_path

ACTIVATIONS = ("relu", "relu6", "elu", "selu", "gelu", "silu", "swish", "tanh", "sigmoid", "softplus",
               "leaky_relu", "linear")
INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
                "orthogonal", "truncated_normal", "random_normal", "random_uniform")

# ----------------------------------------------------------------------------- the YAML reference

TOP_FIELDS = [
    Field("name", "name", "name of the network (used in run directory names)"),
    Field("input", "shape3", "input size: height, width, channels; every layer's input channels derive from it"),
    Field("classes", "pos_int", "number of classes: units of `dense` layers that give no `units`"),
    Field("defaults", "mapping", "defaults for every layer (below)", default=None, nullable=True),
    Field("stages", "mapping", "ordered stages: name -> list of layers; the last stage ends in `classes` logits"),
    Field("aux_heads", "mapping", "auxiliary classifiers (training only): name -> head (below)", default=None,
          nullable=True),
]

DEFAULT_FIELDS = [
    Field("activation", "choice", "activation after every conv (and inside Inception blocks)", "relu", ACTIVATIONS),
    Field("padding", "padding", "padding of conv and pooling layers: same, valid, or N = N zero pixels on every "
                                "side (PyTorch/MXNet `padding=N`; max pools pad with -inf, avg pools count the "
                                "padding like their `count_include_pad`)", "same"),
    Field("initializer", "choice", "kernel initializer of conv and dense layers (glorot_uniform = Xavier)",
          "glorot_uniform", INITIALIZERS),
    Field("use_bias", "bool", "conv layers have a bias", True),
    Field("batch_norm", "bool", "conv -> BatchNorm -> activation for every conv", False),
    Field("bn_epsilon", "pos_number", "BatchNorm epsilon", 1e-3),
    Field("bn_momentum", "rate", "BatchNorm moving-average momentum (Keras convention: 0.9 = PyTorch's 0.1)", 0.99),
]

_OVERRIDES = [
    Field("activation", "choice", "overrides defaults.activation", None, ACTIVATIONS, nullable=True),
    Field("use_bias", "bool", "overrides defaults.use_bias", None, nullable=True),
    Field("batch_norm", "bool", "overrides defaults.batch_norm", None, nullable=True),
    Field("initializer", "choice", "overrides defaults.initializer", None, INITIALIZERS, nullable=True),
]
_NAME = Field("name", "name", "layer name (default: kind and position in its stage, e.g. `b1.conv1`)", None,
              nullable=True)
_POOL = [
    Field("size", "pos_int", "window size (square)"),
    Field("stride", "pos_int", "stride (default: size)", None, nullable=True),
    Field("padding", "padding", "overrides defaults.padding", None, nullable=True),
    Field("adapt", "bool", "if the window is larger than the incoming feature map (valid padding), shrink it "
                           "to the feature map; `summary` reports it", False),
    _NAME,
]

LAYER_FIELDS: dict[str, list[Field]] = {
    "conv": [
        Field("filters", "pos_int", "output channels"),
        Field("kernel", "pos_int", "kernel size (square)"),
        Field("stride", "pos_int", "stride", 1),
        Field("padding", "padding", "overrides defaults.padding", None, nullable=True),
        *_OVERRIDES,
        _NAME,
    ],
    "maxpool": _POOL,
    "avgpool": _POOL,
    "global_avgpool": [_NAME],
    "flatten": [_NAME],
    "dropout": [Field("rate", "rate", "fraction of units dropped while training"), _NAME],
    "dense": [
        Field("units", "pos_int", "output units (default: `classes`)", None, nullable=True),
        Field("activation", "choice", "activation (dense layers are linear unless they say so)", "linear",
              ACTIVATIONS),
        Field("use_bias", "bool", "has a bias", True),
        Field("initializer", "choice", "overrides defaults.initializer", None, INITIALIZERS, nullable=True),
        _NAME,
    ],
    "batch_norm": [
        Field("epsilon", "pos_number", "overrides defaults.bn_epsilon", None, nullable=True),
        Field("momentum", "rate", "overrides defaults.bn_momentum", None, nullable=True),
        _NAME,
    ],
    "lrn": [
        Field("size", "pos_int", "Caffe's local_size: channels in the window (odd); TF depth_radius = (size-1)/2", 5),
        Field("alpha", "pos_number", "Caffe's alpha; TF alpha = alpha / size", 1e-4),
        Field("beta", "pos_number", "exponent", 0.75),
        Field("k", "pos_number", "Caffe's k; TF bias", 1.0),
        _NAME,
    ],
    "inception": [
        Field("name", "name", "block name, as in the paper's Table 1 (`3a`); prefixes its layers (`3a.3x3_reduce`)"),
        Field("1x1", "pos_int", "branch 1: 1x1 conv filters (Table 1: #1x1)", attr="n1x1"),
        Field("3x3_reduce", "pos_int", "branch 2: 1x1 reduction before the 3x3 (#3x3 reduce)", attr="n3x3_reduce"),
        Field("3x3", "pos_int", "branch 2: 3x3 conv filters (#3x3)", attr="n3x3"),
        Field("5x5_reduce", "pos_int", "branch 3: 1x1 reduction before the 5x5 (#5x5 reduce)", attr="n5x5_reduce"),
        Field("5x5", "pos_int", "branch 3: 5x5 conv filters (#5x5)", attr="n5x5"),
        Field("pool_proj", "pos_int", "branch 4: 1x1 conv after the pooling (pool proj)"),
        Field("5x5_kernel", "pos_int", "kernel of branch 3 (torchvision uses 3)", 5, attr="kernel_5x5"),
        Field("pool", "choice", "branch 4's pooling", "max", ("max", "avg"), attr="pool_type"),
        Field("pool_size", "pos_int", "branch 4's pooling window (stride 1, same padding)", 3),
        *_OVERRIDES,
    ],
}
LAYER_DOCS = {
    "conv": "convolution + activation (with batch_norm: convolution, BatchNorm, activation)",
    "maxpool": "max pooling",
    "avgpool": "average pooling",
    "global_avgpool": "average over height and width: HxWxC -> C",
    "flatten": "HxWxC -> H*W*C",
    "dropout": "dropout (training only)",
    "dense": "fully connected layer on a flat input",
    "batch_norm": "batch normalization on the last axis",
    "lrn": "local response normalization across channels (Caffe's LRN, AlexNet/GoogLeNet)",
    "inception": "four parallel branches joined by channel concatenation: 1x1 | 1x1->3x3 | 1x1->5x5 | pool->1x1",
}
FIELDLESS = ("global_avgpool", "flatten")

AUX_FIELDS = [
    Field("after", "name", "name of the Inception block whose output feeds the head"),
    Field("loss_weight", "nonneg_number", "weight of this head's loss in the training loss", 0.3),
    Field("layers", "list", "layers of the head, as in a stage; ends in `classes` logits"),
]

# ----------------------------------------------------------------------------- typed spec


@dataclass(frozen=True)
class Conv:
    name: str
    path: tuple  # YAML path of the layer's definition
    filters: int
    kernel: int
    stride: int
    padding: str | int  # "same", "valid" or symmetric padding in pixels
    activation: str
    use_bias: bool
    batch_norm: bool
    initializer: str
    bn_epsilon: float
    bn_momentum: float


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" or "avg"
    name: str
    path: tuple  # YAML path of the layer's definition
    size: int
    stride: int
    padding: str | int  # "same", "valid" or symmetric padding in pixels
    adapt: bool = False
    adapted_from: int | None = None  # the declared size, when `adapt` shrank the window


@dataclass(frozen=True)
class GlobalAvgPool:
    name: str
    path: tuple  # YAML path of the layer's definition


@dataclass(frozen=True)
class Flatten:
    name: str
    path: tuple  # YAML path of the layer's definition


@dataclass(frozen=True)
class Dropout:
    name: str
    path: tuple  # YAML path of the layer's definition
    rate: float


@dataclass(frozen=True)
class Dense:
    name: str
    path: tuple  # YAML path of the layer's definition
    units: int
    activation: str
    use_bias: bool
    initializer: str


@dataclass(frozen=True)
class BatchNorm:
    name: str
    path: tuple  # YAML path of the layer's definition
    epsilon: float
    momentum: float


@dataclass(frozen=True)
class LRN:
    name: str
    path: tuple  # YAML path of the layer's definition
    size: int
    alpha: float
    beta: float
    k: float

    @property
    def depth_radius(self) -> int:
        return (self.size - 1) // 2

    @property
    def tf_alpha(self) -> float:
        return self.alpha / self.size


@dataclass(frozen=True)
class Inception:
    name: str
    path: tuple  # YAML path of the layer's definition
    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool_proj: int
    kernel_5x5: int
    pool_type: str
    pool_size: int
    activation: str
    use_bias: bool
    batch_norm: bool
    initializer: str
    bn_epsilon: float
    bn_momentum: float

    @property
    def out_channels(self) -> int:
        return self.n1x1 + self.n3x3 + self.n5x5 + self.pool_proj

    def convs(self) -> list[Conv]:
        """The block's six convolutions, named like the paper's Caffe model (`3a.3x3_reduce`)."""
        c = dict(stride=1, padding="same", activation=self.activation, use_bias=self.use_bias,
                 batch_norm=self.batch_norm, initializer=self.initializer, bn_epsilon=self.bn_epsilon,
                 bn_momentum=self.bn_momentum, path=self.path)
        n = self.name
        return [Conv(f"{n}.1x1", filters=self.n1x1, kernel=1, **c),
                Conv(f"{n}.3x3_reduce", filters=self.n3x3_reduce, kernel=1, **c),
                Conv(f"{n}.3x3", filters=self.n3x3, kernel=3, **c),
                Conv(f"{n}.5x5_reduce", filters=self.n5x5_reduce, kernel=1, **c),
                Conv(f"{n}.5x5", filters=self.n5x5, kernel=self.kernel_5x5, **c),
                Conv(f"{n}.pool_proj", filters=self.pool_proj, kernel=1, **c)]


Layer = Union[Conv, Pool, GlobalAvgPool, Flatten, Dropout, Dense, BatchNorm, LRN, Inception]


@dataclass(frozen=True)
class Stage:
    name: str
    layers: tuple


@dataclass(frozen=True)
class AuxHead:
    name: str
    after: str
    loss_weight: float
    layers: tuple


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
    name: str
    input: tuple
    classes: int
    defaults: dict
    stages: tuple
    aux_heads: tuple = ()
    source: str | None = None
    raw: dict = field(default=None, repr=False, compare=False)  # the mapping it was read from
    rows: tuple = field(default=(), repr=False, compare=False)

    def stage_rows(self, include_aux: bool = False) -> list[Row]:
        return [r for r in self.rows if include_aux or not r.aux]

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


# ----------------------------------------------------------------------------- parsing


def load_arch(path: str, text: str | None = None, sets: "list[tuple[str, Any]] | None" = None) -> ArchSpec:
    """Read, check and resolve an architecture YAML. Raises ConfigError naming file, YAML path and line.

    `sets` are overrides [(dotted key, value)] applied to the file's data before it is checked.
    """
    return parse_arch(load(path, text, sets, what="architecture file"))


def parse_arch(doc: Document) -> ArchSpec:
    problems: list[Problem] = []
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError([doc.problem((), f"an architecture file is a mapping with keys name, input, classes, "
                                            f"stages; got {describe(data)}")])
    top = check_mapping(doc, problems, TOP_FIELDS, data, (), "the architecture")
    if top is None:
        raise ConfigError(problems)
    defaults = check_mapping(doc, problems, DEFAULT_FIELDS, top.get("defaults"), ("defaults",), "defaults")
    if "stages" not in top or defaults is None:
        raise ConfigError(problems)
    parser = _Parser(doc, problems, defaults, top.get("classes", 1))  # a bad `classes` is already reported

    stages = []
    if not top["stages"]:
        problems.append(doc.problem(("stages",), "no stages: declare at least one stage with layers"))
    for sname, layers in top["stages"].items():
        spath = ("stages", sname)
        message = check_value(Field("stage", "name", ""), sname)[1]
        if message:
            problems.append(doc.problem(spath, f"stage name: {message}", key=True))
        stages.append(Stage(sname, parser.layers(sname, layers, spath)))

    heads = []
    for hname, value in (top.get("aux_heads") or {}).items():
        hpath = ("aux_heads", hname)
        message = check_value(Field("head", "name", ""), hname)[1]
        if message:
            problems.append(doc.problem(hpath, f"head name: {message}", key=True))
        head = check_mapping(doc, problems, AUX_FIELDS, value, hpath, f"auxiliary head '{hname}'")
        if head is None or "layers" not in head:
            continue
        heads.append(AuxHead(hname, head.get("after", ""), head.get("loss_weight", 0.3),
                             parser.layers(hname, head["layers"], hpath + ("layers",))))
    if problems:
        raise ConfigError(problems)

    spec = ArchSpec(name=top["name"], input=top["input"], classes=top["classes"], defaults=defaults,
                    stages=tuple(stages), aux_heads=tuple(heads), source=doc.file, raw=data)
    return _analyze(spec, doc)


class _Parser:
    def __init__(self, doc: Document, problems: list, defaults: dict, classes: int):
        self.doc, self.problems, self.defaults, self.classes = doc, problems, defaults, classes
        self.names: dict[str, str] = {}  # Keras layer name -> YAML path that made it

    def layers(self, owner: str, items: Any, path: tuple) -> tuple:
        doc, problems = self.doc, self.problems
        if not isinstance(items, list):
            problems.append(doc.problem(path, f"expected a list of layers (`- conv: {{...}}`), got {describe(items)}"))
            return ()
        if not items:
            problems.append(doc.problem(path, "empty: a stage needs at least one layer"))
        out = []
        counts: dict[str, int] = {}
        for i, item in enumerate(items):
            lpath = path + (i,)
            if isinstance(item, str) and item in FIELDLESS:
                kind, value = item, {}
            elif isinstance(item, dict) and len(item) == 1:
                kind, value = next(iter(item.items()))
                if kind not in LAYER_FIELDS:
                    problems.append(doc.problem(lpath + (kind,), f"unknown layer kind '{kind}'"
                                                f"{did_you_mean(kind, LAYER_FIELDS)} (kinds: {', '.join(LAYER_FIELDS)})",
                                                key=True))
                    continue
                lpath = lpath + (kind,)
            elif isinstance(item, dict):
                keys = ", ".join(map(str, item)) or "none"
                problems.append(doc.problem(lpath, f"a layer is one kind with its fields (`- conv: {{filters: 64, "
                                                   f"kernel: 1}}`), got keys: {keys} (is the indentation off?)"))
                continue
            else:
                hint = did_you_mean(item, LAYER_FIELDS) if isinstance(item, str) else ""
                problems.append(doc.problem(lpath, f"expected a layer like `- conv: {{filters: 64, kernel: 1}}`, "
                                                   f"got {describe(item)}{hint}"))
                continue
            counts[kind] = counts.get(kind, 0) + 1
            layer = self.layer(kind, value, lpath, owner, counts[kind])
            if layer is not None:
                out.append(layer)
        return tuple(out)

    def layer(self, kind: str, value: Any, path: tuple, owner: str, index: int):
        doc, problems, d = self.doc, self.problems, self.defaults
        f = check_mapping(doc, problems, LAYER_FIELDS[kind], value, path, f"{kind} layer")
        if f is None:
            return None
        if kind == "inception":
            name = f.get("name")
            if name is None:
                return None
        else:
            name = f"{owner}.{f.get('name') or kind + str(index)}"
        where = path
        if name in self.names:
            what = "block" if kind == "inception" else "layer"
            problems.append(doc.problem(path + (("name",) if f.get("name") else ()),
                                        f"duplicate {what} name '{name}' (also at {format_path(self.names[name])})"))
        self.names[name] = where

        def pick(key):
            return d[key] if f.get(key) is None else f[key]

        bn = dict(bn_epsilon=d["bn_epsilon"], bn_momentum=d["bn_momentum"])
        if any(k not in f for k in (x.name for x in LAYER_FIELDS[kind])):
            return None  # a bad or missing field, already reported
        if kind == "conv":
            return Conv(name, where, f["filters"], f["kernel"], f["stride"], pick("padding"), pick("activation"),
                        pick("use_bias"), pick("batch_norm"), pick("initializer"), **bn)
        if kind in ("maxpool", "avgpool"):
            return Pool(kind[:3], name, where, f["size"], f["stride"] or f["size"], pick("padding"), f["adapt"])
        if kind == "global_avgpool":
            return GlobalAvgPool(name, where)
        if kind == "flatten":
            return Flatten(name, where)
        if kind == "dropout":
            return Dropout(name, where, f["rate"])
        if kind == "dense":
            return Dense(name, where, f["units"] or self.classes, f["activation"], f["use_bias"], pick("initializer"))
        if kind == "batch_norm":
            return BatchNorm(name, where, d["bn_epsilon"] if f["epsilon"] is None else f["epsilon"],
                             d["bn_momentum"] if f["momentum"] is None else f["momentum"])
        if kind == "lrn":
            if f["size"] % 2 == 0:
                problems.append(doc.problem(path + ("size",), f"expected an odd window (Caffe's local_size), "
                                                              f"got {f['size']}"))
                return None
            return LRN(name, where, f["size"], f["alpha"], f["beta"], f["k"])
        if kind == "inception":
            return Inception(name, where, f["n1x1"], f["n3x3_reduce"], f["n3x3"], f["n5x5_reduce"], f["n5x5"],
                             f["pool_proj"], f["kernel_5x5"], f["pool_type"], f["pool_size"], pick("activation"),
                             pick("use_bias"), pick("batch_norm"), pick("initializer"), **bn)
        raise AssertionError(kind)


# ----------------------------------------------------------------------------- shapes, params, multiply-adds


def _fmt(shape: tuple) -> str:
    return "x".join(map(str, shape))


def _conv_cost(c: Conv, shape: tuple) -> tuple[tuple, int, int, int]:
    h, w, cin = shape
    oh, ow = _out_size(h, c.kernel, c.stride, c.padding), _out_size(w, c.kernel, c.stride, c.padding)
    params = c.kernel * c.kernel * cin * c.filters + (c.filters if c.use_bias else 0)
    nontrainable = 0
    if c.batch_norm:
        params += 2 * c.filters
        nontrainable = 2 * c.filters
    return (oh, ow, c.filters), params, nontrainable, oh * ow * c.kernel * c.kernel * cin * c.filters


def _out_size(n: int, k: int, s: int, padding: str | int) -> int:
    if padding == "same":
        return math.ceil(n / s)
    pad = 0 if padding == "valid" else padding
    return (n + 2 * pad - k) // s + 1


def _pad_text(padding) -> str:
    return f"padding {padding}" if isinstance(padding, int) else f"{padding} padding"


def _analyze(spec: ArchSpec, doc: Document) -> ArchSpec:
    """Follow the feature map through the network; report what does not fit; fill `rows`."""
    problems: list[Problem] = []
    rows: list[Row] = []
    adapted: dict[str, Pool] = {}
    block_shapes: dict[str, tuple] = {}
    inp = spec.input

    def walk(owner: str, layers: tuple, shape: tuple, aux: bool, after: str) -> tuple | None:
        for layer in layers:
            where = layer.path
            kind = type(layer).__name__.lower()
            spatial = len(shape) == 3
            needs_map = isinstance(layer, (Conv, Pool, GlobalAvgPool, Flatten, LRN, Inception))
            if needs_map and not spatial:
                problems.append(doc.problem(where, f"{_kind(layer)} needs a feature map (height x width x channels), "
                                                   f"but gets a flat vector of {shape[0]} after {after}"))
                return None
            if isinstance(layer, Dense) and spatial:
                problems.append(doc.problem(where, f"dense needs a flat input, but gets a {_fmt(shape)} feature map "
                                                   f"after {after}; put global_avgpool or flatten before it"))
                return None
            note = ""
            if isinstance(layer, Conv):
                out, params, nontrain, macs = _conv_cost(layer, shape)
            elif isinstance(layer, Pool):
                h, w, c = shape
                if layer.adapt and layer.padding == "valid" and layer.size > min(h, w):
                    size = min(h, w)
                    note = (f"{layer.name}: {layer.kind}pool {layer.size}x{layer.size}/{layer.stride} does not fit the "
                            f"{h}x{w} feature map at input {_fmt(inp)}; adapted to {size}x{size}/{layer.stride} "
                            f"(adapt: true)")
                    layer = replace(layer, size=size, adapted_from=layer.size)
                    adapted[layer.name] = layer
                out = (_out_size(h, layer.size, layer.stride, layer.padding),
                       _out_size(w, layer.size, layer.stride, layer.padding), c)
                params = nontrain = macs = 0
            elif isinstance(layer, GlobalAvgPool):
                out, params, nontrain, macs = (shape[2],), 0, 0, 0
            elif isinstance(layer, Flatten):
                out, params, nontrain, macs = (shape[0] * shape[1] * shape[2],), 0, 0, 0
            elif isinstance(layer, (Dropout, LRN)):
                out, params, nontrain, macs = shape, 0, 0, 0
            elif isinstance(layer, BatchNorm):
                out, params, nontrain, macs = shape, 2 * shape[-1], 2 * shape[-1], 0
            elif isinstance(layer, Dense):
                n = shape[0]
                out = (layer.units,)
                params, nontrain, macs = n * layer.units + (layer.units if layer.use_bias else 0), 0, n * layer.units
            elif isinstance(layer, Inception):
                params = nontrain = macs = 0
                h, w, c = shape
                convs = layer.convs()
                ins = [shape, shape, convs[1].filters, shape, convs[3].filters, shape]
                for conv, cin in zip(convs, ins):
                    s = cin if isinstance(cin, tuple) else (h, w, cin)
                    _, p, nt, m = _conv_cost(conv, s)
                    params, nontrain, macs = params + p, nontrain + nt, macs + m
                out = (h, w, layer.out_channels)
                block_shapes[layer.name] = out
            else:
                raise AssertionError(layer)
            if any(d <= 0 for d in out):
                what = _kind(layer)
                size = getattr(layer, "size", getattr(layer, "kernel", None))
                problems.append(doc.problem(where, f"the feature map vanishes: {what} with window {size} "
                                                   f"({_pad_text(getattr(layer, 'padding', ''))}) does not fit the "
                                                   f"{_fmt(shape[:2])} feature map after {after} at input "
                                                   f"{_fmt(inp)}; use padding: same, a smaller window, "
                                                   f"adapt: true or a larger input"))
                return None
            rows.append(Row(owner, layer.name, kind if not isinstance(layer, Pool) else layer.kind + "pool",
                            out, params, nontrain, macs, note, aux))
            shape = out
            after = f"{layer.name} ({_fmt(out)})"
            last_name[0] = after
        return shape

    shape = inp
    last_name = [f"the input ({_fmt(inp)})"]
    for stage in spec.stages:
        shape = walk(stage.name, stage.layers, shape, False, last_name[0])
        if shape is None:
            break
    if shape is not None and shape != (spec.classes,):
        last = spec.stages[-1].layers[-1] if spec.stages and spec.stages[-1].layers else None
        where = last.path if last is not None else ("stages",)
        problems.append(doc.problem(where, f"the network must end in {spec.classes} logits (classes: "
                                           f"{spec.classes}), but its last layer gives {_fmt(shape)}; end with "
                                           f"global_avgpool and dense"))
    for head in spec.aux_heads:
        hpath = ("aux_heads", head.name)
        if head.after not in block_shapes:
            blocks = [n for n in block_shapes]
            problems.append(doc.problem(hpath + ("after",), f"no Inception block named '{head.after}'"
                                                           f"{did_you_mean(head.after, blocks)} (blocks: "
                                                           f"{', '.join(blocks) or 'none'})"))
            continue
        out = walk(head.name, head.layers, block_shapes[head.after], True,
                   f"{head.after} ({_fmt(block_shapes[head.after])})")
        if out is not None and out != (spec.classes,):
            problems.append(doc.problem(hpath + ("layers",), f"an auxiliary head must end in {spec.classes} logits, "
                                                            f"but gives {_fmt(out)}"))
    if problems:
        raise ConfigError(problems)

    def resolve(layers):
        return tuple(adapted.get(layer.name, layer) for layer in layers)

    return replace(spec, stages=tuple(Stage(s.name, resolve(s.layers)) for s in spec.stages),
                   aux_heads=tuple(replace(h, layers=resolve(h.layers)) for h in spec.aux_heads), rows=tuple(rows))


def _kind(layer) -> str:
    if isinstance(layer, Pool):
        return f"{layer.kind}pool"
    return {"GlobalAvgPool": "global_avgpool", "BatchNorm": "batch_norm"}.get(type(layer).__name__,
                                                                            type(layer).__name__.lower())


"""The architecture language: YAML -> validated, typed spec (no Keras here).

`load_arch(path)` reads an architecture YAML (following `extends:`), checks
every key, type and size, derives every layer's input channels, follows the
feature map through the network at the declared input size, and returns an
`ArchSpec` whose layers are fully resolved (defaults applied, names given).
All mistakes of a file are reported at once as a `ConfigError`.

Layer kinds are a registry. A kind is one frozen dataclass: its fields are the
YAML keys (`schema.option`: type, default, meaning), and its methods give the
output shape, parameters and multiply-adds (`cost`). The parser, the checker,
the summary and the README's reference read the registry (`LAYER_KINDS`); the
Keras builder function of each kind is registered beside it in blocks.py.
Adding a kind means one class here and one function there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from inception_keras.errors import ConfigError, Problem
from inception_keras.lang.schema import (Document, Option, check_mapping, check_value, describe, did_you_mean, format_path, option,
                     options, raise_if, to_plain)

ACTIVATIONS = ("relu", "relu6", "elu", "selu", "gelu", "silu", "swish", "tanh", "sigmoid", "softplus",
               "leaky_relu", "linear")
INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
                "orthogonal", "truncated_normal", "random_normal", "random_uniform")
MAX_CHANNELS = 1 << 16  # more channels than any image network uses; keeps an accidental 10**12 from building

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
    classes: int = option("pos_int", "number of classes: units of `dense` layers that give no `units`")
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
    stages: dict = option("mapping", "ordered stages: name -> list of layers; the last stage ends in `classes` "
                                     "logits")
    aux_heads: dict | None = option("mapping", "auxiliary classifiers (training only): name -> head (below)", None,
                                    nullable=True)


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


def channel_count(doc: str, **more) -> Any:
    """A number of channels: an integer > 0, scaled by the architecture's `width`."""
    return option("pos_int", doc, channels=True, maximum=MAX_CHANNELS, **more)


def inherited(key: str, kind: str, choices: tuple = ()) -> Any:
    """A layer key that is null unless given: null takes `defaults.<key>`."""
    return option(kind, f"overrides defaults.{key}", None, choices=choices, nullable=True, inherit=key)


# ----------------------------------------------------------------------------- layer kinds


@dataclass(frozen=True)
class Cost:
    """What a layer makes of its input: output shape, trainable and non-trainable parameters, multiply-adds."""

    shape: tuple
    params: int = 0
    nontrainable: int = 0
    macs: int = 0


LAYER_KINDS: dict[str, type] = {}


def layer_kind(cls):
    """Register a layer kind under its `KIND` (the YAML name)."""
    LAYER_KINDS[cls.KIND] = cls
    return cls


@dataclass(frozen=True, kw_only=True)
class Layer:
    """A resolved layer: every YAML key of its kind, defaults applied, plus its full name and YAML path."""

    KIND: ClassVar[str] = ""
    DOC: ClassVar[str] = ""
    INPUT: ClassVar[str] = "map"  # "map": needs height x width x channels; "flat": a vector; "any"
    BLOCK: ClassVar[bool] = False  # an Inception block: auxiliary heads attach to it by name

    name: str | None = option("name", "layer name (default: kind and position in its stage, e.g. `b1.conv1`)",
                              None, nullable=True)
    path: tuple = field(default=(), compare=False, repr=False)  # YAML path of the definition

    def resolved(self, classes: int) -> "Layer":
        """Fill what depends on the network (a dense layer's default units)."""
        return self

    def problems(self) -> list[tuple[str, str]]:
        """Checks across keys: [(key, message)]."""
        return []

    def fit(self, shape: tuple, input_shape: tuple) -> tuple["Layer", str]:
        """The layer adapted to the feature map it gets (a pool with `adapt`), and a note saying so."""
        return self, ""

    def cost(self, shape: tuple) -> Cost:
        raise NotImplementedError

    @property
    def window(self) -> str:
        return str(getattr(self, "size", getattr(self, "kernel", "")))


def out_size(n: int, k: int, s: int, padding: str | int) -> int:
    if padding == "same":
        return math.ceil(n / s)
    pad = 0 if padding == "valid" else padding
    return (n + 2 * pad - k) // s + 1


def conv_cost(cin: int, h: int, w: int, filters: int, kernel: int, stride: int, padding, use_bias: bool,
              batch_norm: bool) -> Cost:
    oh, ow = out_size(h, kernel, stride, padding), out_size(w, kernel, stride, padding)
    params = kernel * kernel * cin * filters + (filters if use_bias else 0)
    nontrainable = 0
    if batch_norm:
        params += 2 * filters
        nontrainable = 2 * filters
    return Cost((oh, ow, filters), params, nontrainable, oh * ow * kernel * kernel * cin * filters)


@layer_kind
@dataclass(frozen=True, kw_only=True)
class Conv(Layer):
    KIND = "conv"
    DOC = "convolution + activation (with batch_norm: convolution, BatchNorm, activation)"

    filters: int = channel_count("output channels")
    kernel: int = option("pos_int", "kernel size (square)")
    stride: int = option("pos_int", "stride", 1)
    padding: Any = inherited("padding", "padding")
    activation: str = inherited("activation", "choice", ACTIVATIONS)
    use_bias: bool = inherited("use_bias", "bool")
    batch_norm: bool = inherited("batch_norm", "bool")
    initializer: str = inherited("initializer", "choice", INITIALIZERS)
    bn_epsilon: float = inherited("bn_epsilon", "pos_number")
    bn_momentum: float = inherited("bn_momentum", "rate")

    def cost(self, shape):
        h, w, cin = shape
        return conv_cost(cin, h, w, self.filters, self.kernel, self.stride, self.padding, self.use_bias,
                         self.batch_norm)


def pool_out(n: int, k: int, s: int, padding: str | int, ceil_mode: bool = False) -> int:
    """Output size of a pooling window: Keras "same", or explicit padding rounded down (floor) or up (ceil,
    as PyTorch's ceil_mode and Caffe, where the last window must start inside the input or its left padding)."""
    if padding == "same" or not ceil_mode:
        return out_size(n, k, s, padding)
    pad = 0 if padding == "valid" else padding
    out = -(-(n + 2 * pad - k) // s) + 1
    if (out - 1) * s >= n + pad:
        out -= 1
    return out


@dataclass(frozen=True, kw_only=True)
class Pool(Layer):
    """Max and average pooling share their keys."""

    size: int = option("pos_int", "window size (square)")
    stride: int | None = option("pos_int", "stride (default: size)", None, nullable=True)
    padding: Any = inherited("padding", "padding")
    ceil_mode: bool = option("bool", "round the output size up, as PyTorch's ceil_mode and Caffe's pools (with "
                                     "valid or integer padding): a last, partial window is kept when it starts "
                                     "inside the input or its left padding; average pools count the padding but "
                                     "not the part past it", False)
    adapt: bool = option("bool", "if the window is larger than the incoming feature map (valid padding), shrink "
                                 "it to the feature map; `summary` reports it", False)
    adapted_from: int | None = field(default=None, compare=False)  # the declared size, when `adapt` shrank it

    def resolved(self, classes):
        return self if self.stride else replace(self, stride=self.size)

    def problems(self):
        if self.ceil_mode and self.padding == "same":
            return [("ceil_mode", "ceil_mode rounds explicit padding up; with padding: same it has no meaning "
                                  "(use padding: valid or an integer)")]
        return []

    def fit(self, shape, input_shape):
        h, w, _ = shape
        if not (self.adapt and self.padding in ("valid", 0) and self.size > min(h, w)):
            return self, ""
        size = min(h, w)
        note = (f"{self.name}: {self.KIND} {self.size}x{self.size}/{self.stride} does not fit the {h}x{w} feature "
                f"map at input {_fmt(input_shape)}; adapted to {size}x{size}/{self.stride} (adapt: true)")
        return replace(self, size=size, adapted_from=self.size), note

    def cost(self, shape):
        h, w, c = shape
        return Cost((pool_out(h, self.size, self.stride, self.padding, self.ceil_mode),
                     pool_out(w, self.size, self.stride, self.padding, self.ceil_mode), c))


@layer_kind
@dataclass(frozen=True, kw_only=True)
class MaxPool(Pool):
    KIND = "maxpool"
    DOC = "max pooling"


@layer_kind
@dataclass(frozen=True, kw_only=True)
class AvgPool(Pool):
    KIND = "avgpool"
    DOC = "average pooling"


@layer_kind
@dataclass(frozen=True, kw_only=True)
class AdaptiveAvgPool(Layer):
    KIND = "adaptive_avgpool"
    DOC = ("average pooling to a fixed output size, as PyTorch's AdaptiveAvgPool2d: output row i averages input "
           "rows floor(i*H/output) to ceil((i+1)*H/output) - 1, and the same for columns")

    output: int = option("pos_int", "output height and width")

    def cost(self, shape):
        return Cost((self.output, self.output, shape[2]))


@layer_kind
@dataclass(frozen=True, kw_only=True)
class GlobalAvgPool(Layer):
    KIND = "global_avgpool"
    DOC = "average over height and width: HxWxC -> C"

    def cost(self, shape):
        return Cost((shape[2],))


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


@layer_kind
@dataclass(frozen=True, kw_only=True)
class BatchNorm(Layer):
    KIND = "batch_norm"
    DOC = "batch normalization on the last axis"
    INPUT = "any"

    epsilon: float = inherited("bn_epsilon", "pos_number")
    momentum: float = inherited("bn_momentum", "rate")

    def cost(self, shape):
        return Cost(shape, 2 * shape[-1], 2 * shape[-1])


@layer_kind
@dataclass(frozen=True, kw_only=True)
class LRN(Layer):
    KIND = "lrn"
    DOC = "local response normalization across channels (Caffe's LRN, AlexNet/GoogLeNet)"

    size: int = option("pos_int", "Caffe's local_size: channels in the window (odd); TF depth_radius = (size-1)/2",
                       5)
    alpha: float = option("pos_number", "Caffe's alpha; TF alpha = alpha / size", 1e-4)
    beta: float = option("pos_number", "exponent", 0.75)
    k: float = option("pos_number", "Caffe's k; TF bias", 1.0)

    @property
    def depth_radius(self) -> int:
        return (self.size - 1) // 2

    @property
    def tf_alpha(self) -> float:
        return self.alpha / self.size

    def problems(self):
        if self.size % 2 == 0:
            return [("size", f"expected an odd window (Caffe's local_size), got {self.size}")]
        return []

    def cost(self, shape):
        return Cost(shape)


@layer_kind
@dataclass(frozen=True, kw_only=True)
class Inception(Layer):
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
    activation: str = inherited("activation", "choice", ACTIVATIONS)
    use_bias: bool = inherited("use_bias", "bool")
    batch_norm: bool = inherited("batch_norm", "bool")
    initializer: str = inherited("initializer", "choice", INITIALIZERS)
    bn_epsilon: float = inherited("bn_epsilon", "pos_number")
    bn_momentum: float = inherited("bn_momentum", "rate")

    @property
    def out_channels(self) -> int:
        return self.n1x1 + self.n3x3 + self.n5x5 + self.pool_proj

    def convs(self) -> list[Conv]:
        """The block's six convolutions, named like the paper's Caffe model (`3a.3x3_reduce`)."""
        c = dict(stride=1, padding="same", activation=self.activation, use_bias=self.use_bias,
                 batch_norm=self.batch_norm, initializer=self.initializer, bn_epsilon=self.bn_epsilon,
                 bn_momentum=self.bn_momentum, path=self.path)
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


# ----------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Stage:
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
    name: str
    input: tuple
    classes: int
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


# ----------------------------------------------------------------------------- parsing


def load_arch(path: str, text: str | None = None, sets: "list[tuple[str, Any]] | None" = None) -> ArchSpec:
    """Read, check and resolve an architecture YAML. Raises ConfigError naming file, YAML path and line.

    `sets` are overrides [(dotted key, value)] applied to the file's data (after `extends`) before it is
    checked.
    """
    from inception_keras.lang.compose import load_arch_document

    return parse_arch(load_arch_document(path, text, sets))


def local_names(items: list) -> list[str | None]:
    """The name of each layer within its stage: an Inception block's or explicit `name`, else kind and count
    (`conv1`, `conv2`, `maxpool1`); None for an item that is not a layer."""
    counts: dict[str, int] = {}
    out: list[str | None] = []
    for item in items if isinstance(items, list) else []:
        kind, value = _split_item(item)
        if kind is None:
            out.append(None)
            continue
        counts[kind] = counts.get(kind, 0) + 1
        given = value.get("name") if isinstance(value, dict) else None
        out.append(str(given) if given is not None else f"{kind}{counts[kind]}")
    return out


def _split_item(item) -> tuple[str | None, Any]:
    if isinstance(item, str) and item in LAYER_KINDS:
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        kind, value = next(iter(item.items()))
        if kind in LAYER_KINDS:
            return kind, value
    return None, None


def parse_arch(doc: Document) -> ArchSpec:
    problems: list[Problem] = []
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError([doc.problem((), f"an architecture file is a mapping with keys name, input, classes, "
                                            f"stages; got {describe(data)}")])
    top = check_mapping(doc, problems, options(ArchFile), data, (), "the architecture")
    if top is None:
        raise ConfigError(problems)
    parser = _Parser(doc, problems, top)
    if "stages" not in top or parser.defaults is None:
        raise ConfigError(problems)

    stages = []
    if not top["stages"]:
        problems.append(doc.problem(("stages",), "no stages: declare at least one stage with layers"))
    for sname, layers in top["stages"].items():
        spath = ("stages", sname)
        message = check_value(Option("name", ""), sname)[1]
        if message:
            problems.append(doc.problem(spath, f"stage name: {message}", key=True))
        layers, parser.config_stages[sname] = parser.layers(sname, layers, spath)
        stages.append(Stage(sname, layers))
    heads = [h for hname, value in (top.get("aux_heads") or {}).items()
             if (h := parser.aux_head(hname, value)) is not None]
    normalize = _normalize(doc, problems, top)
    raise_if(problems)

    config = {"name": top["name"], "input": list(top["input"]), "classes": top["classes"], "width": top["width"],
              "defaults": dict(parser.defaults), "stages": parser.config_stages}
    if heads:
        config["aux_heads"] = parser.config_heads
    if normalize is not None:
        config["normalize"] = to_plain(normalize)
    spec = ArchSpec(name=top["name"], input=top["input"], classes=top["classes"], defaults=parser.defaults,
                    stages=tuple(stages), aux_heads=tuple(heads), width=top["width"], source=doc.file,
                    normalize=normalize, config=config)
    return _analyze(spec, doc)


def _normalize(doc: Document, problems: list, top: dict) -> Normalize | None:
    """`normalize`, checked: as many values as the input has channels (or one), std > 0."""
    if top.get("normalize") is None:
        return None
    path = ("normalize",)
    values = check_mapping(doc, problems, options(Normalize), top["normalize"], path, "normalize")
    if values is None or len(values) < len(options(Normalize)):
        return None
    channels = top["input"][2] if "input" in top else None
    ok = True
    for key in ("mean", "std"):
        n = len(values[key])
        if channels is not None and n not in (1, channels):
            problems.append(doc.problem(path + (key,), f"{n} values for an input of {channels} channel"
                                                       f"{'s' if channels != 1 else ''} (input: {_fmt(top['input'])}); "
                                                       f"give one per channel, or one for all"))
            ok = False
    if any(v <= 0 for v in values["std"]):
        problems.append(doc.problem(path + ("std",), f"expected numbers > 0, got {list(values['std'])}"))
        ok = False
    return Normalize(**values) if ok else None


class _Parser:
    """Turns the checked top level into layers; records every layer's resolved keys for config.yaml."""

    # per-kind defaults: every layer kind whose name is no global default (batch_norm is a global switch),
    # and the auxiliary heads
    PER_KIND = tuple(k for k in (*LAYER_KINDS, "aux_head") if k not in {o.key for o in options(Defaults)})

    def __init__(self, doc: Document, problems: list, top: dict):
        self.doc, self.problems = doc, problems
        self.classes, self.width = top.get("classes", 1), top.get("width", 1.0)  # bad ones are reported already
        self.names: dict[str, tuple] = {}  # full layer name -> YAML path that made it
        self.config_stages: dict = {}  # resolved keys of every layer, for config.yaml
        self.config_heads: dict = {}
        self.defaults, self.per_kind = self._defaults(top.get("defaults"))

    def _defaults(self, value) -> tuple[dict | None, dict]:
        doc, path = self.doc, ("defaults",)
        value = {} if value is None else value
        globals_ = {k: v for k, v in value.items() if k not in self.PER_KIND}
        known = [o.key for o in options(Defaults)] + list(self.PER_KIND)
        for key in globals_:
            if key not in {o.key for o in options(Defaults)}:
                self.problems.append(doc.problem(path + (key,), f"unknown key '{key}' in defaults"
                                                 f"{did_you_mean(key, known)} (known: {', '.join(known)})", key=True))
        plain = {k: v for k, v in globals_.items() if k in {o.key for o in options(Defaults)}}
        defaults = check_mapping(doc, self.problems, options(Defaults), plain, path, "defaults")
        per_kind = {}
        for kind in self.PER_KIND:
            if kind in value:
                opts = [o for o in (options(AuxHead) if kind == "aux_head" else options(LAYER_KINDS[kind]))
                        if o.key != "name"]
                per_kind[kind] = check_mapping(doc, self.problems, opts, value[kind], path + (kind,),
                                               f"defaults for {kind}", required=False) or {}
        return defaults, per_kind

    def layers(self, owner: str, items: Any, path: tuple) -> tuple[tuple, list]:
        """The layers of a stage or head, and their resolved keys as YAML data (for config.yaml)."""
        doc, problems = self.doc, self.problems
        if not isinstance(items, list):
            problems.append(doc.problem(path, f"expected a list of layers (`- conv: {{...}}`), got {describe(items)}"))
            return (), []
        if not items:
            problems.append(doc.problem(path, "empty: a stage needs at least one layer"))
        out, plain = [], []
        for i, (item, local) in enumerate(zip(items, local_names(items))):
            kind, value = _split_item(item)
            if kind is None:
                self._not_a_layer(item, path + (i,))
                continue
            made = self.layer(kind, value, path + (i, kind) if isinstance(item, dict) else path + (i,), owner, local)
            if made is not None:
                out.append(made[0])
                plain.append({kind: made[1]})
        return tuple(out), plain

    def _not_a_layer(self, item, path):
        doc, kinds = self.doc, LAYER_KINDS
        if isinstance(item, dict) and len(item) == 1:
            kind = next(iter(item))
            self.problems.append(doc.problem(path + (kind,), f"unknown layer kind '{kind}'{did_you_mean(kind, kinds)}"
                                                             f" (kinds: {', '.join(kinds)})", key=True))
        elif isinstance(item, dict):
            keys = ", ".join(map(str, item)) or "none"
            self.problems.append(doc.problem(path, f"a layer is one kind with its fields (`- conv: {{filters: 64, "
                                                   f"kernel: 1}}`), got keys: {keys} (is the indentation off?)"))
        else:
            hint = did_you_mean(item, kinds) if isinstance(item, str) else ""
            self.problems.append(doc.problem(path, f"expected a layer like `- conv: {{filters: 64, kernel: 1}}`, got "
                                                   f"{describe(item)}{hint}"))

    def layer(self, kind: str, value: Any, path: tuple, owner: str, local: str) -> tuple[Layer, dict] | None:
        cls = LAYER_KINDS[kind]
        doc, problems = self.doc, self.problems
        values = check_mapping(doc, problems, options(cls), value, path, f"{kind} layer",
                               defaults=self.per_kind.get(kind))
        if values is None or len(values) < len(options(cls)):
            return None  # a bad or missing key, already reported
        for o in options(cls):
            if o.inherit and values[o.attr] is None and self.defaults is not None:
                values[o.attr] = self.defaults[o.inherit]
        name = values["name"] if cls.BLOCK else f"{owner}.{local}"
        if name in self.names:
            what = "block" if cls.BLOCK else "layer"
            problems.append(doc.problem(path + (("name",) if values.get("name") else ()),
                                        f"duplicate {what} name '{name}' (also at {format_path(self.names[name])})"))
        self.names[name] = path
        plain = {o.key: (local if o.attr == "name" else _plain(values[o.attr])) for o in options(cls)}
        for o in options(cls):
            if o.channels and values[o.attr] is not None and self.width != 1.0:
                values[o.attr] = max(1, round(values[o.attr] * self.width))
        layer = cls(**{**values, "name": name}, path=path).resolved(self.classes)
        for key, message in layer.problems():
            problems.append(doc.problem(path + (key,), message))
        return layer, plain

    def aux_head(self, hname: str, value: Any) -> AuxHead | None:
        doc, hpath = self.doc, ("aux_heads", hname)
        message = check_value(Option("name", ""), hname)[1]
        if message:
            self.problems.append(doc.problem(hpath, f"head name: {message}", key=True))
        head = check_mapping(doc, self.problems, [o for o in options(AuxHead) if o.key != "name"], value, hpath,
                             f"auxiliary head '{hname}'", defaults=self.per_kind.get("aux_head"))
        if head is None or "layers" not in head:
            return None
        given = isinstance(value, dict) and "layers" in value
        layers, plain = self.layers(hname, head["layers"], hpath + ("layers",) if given else
                                    ("defaults", "aux_head", "layers"))
        self.config_heads[hname] = {"after": head.get("after"), "loss_weight": head.get("loss_weight"),
                                    "layers": plain}
        return AuxHead(name=hname, after=head.get("after", ""), loss_weight=head.get("loss_weight", 0.3),
                       layers=layers)


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


# ----------------------------------------------------------------------------- shapes, params, multiply-adds


def _fmt(shape: tuple) -> str:
    return "x".join(map(str, shape))


def _pad_text(padding) -> str:
    return f"padding {padding}" if isinstance(padding, int) else f"{padding} padding"


def _analyze(spec: ArchSpec, doc: Document) -> ArchSpec:
    """Follow the feature map through the network; report what does not fit; fill `rows`."""
    problems: list[Problem] = []
    rows: list[Row] = []
    block_shapes: dict[str, tuple] = {}
    inp = spec.input

    def walk(owner: str, layers: tuple, shape: tuple, aux: bool, after: str) -> tuple[tuple | None, tuple]:
        fitted = []
        for layer in layers:
            spatial = len(shape) == 3
            if layer.INPUT == "map" and not spatial:
                problems.append(doc.problem(layer.path, f"{layer.KIND} needs a feature map (height x width x "
                                                        f"channels), but gets a flat vector of {shape[0]} after "
                                                        f"{after}"))
                return None, ()
            if layer.INPUT == "flat" and spatial:
                problems.append(doc.problem(layer.path, f"{layer.KIND} needs a flat input, but gets a {_fmt(shape)} "
                                                        f"feature map after {after}; put global_avgpool or flatten "
                                                        f"before it"))
                return None, ()
            layer, note = layer.fit(shape, inp)
            cost = layer.cost(shape)
            if any(d <= 0 for d in cost.shape):
                problems.append(doc.problem(layer.path, f"the feature map vanishes: {layer.KIND} with window "
                                                        f"{layer.window} ({_pad_text(getattr(layer, 'padding', ''))}) "
                                                        f"does not fit the {_fmt(shape[:2])} feature map after {after} "
                                                        f"at input {_fmt(inp)}; use padding: same, a smaller window, "
                                                        f"adapt: true or a larger input"))
                return None, ()
            rows.append(Row(owner, layer.name, layer.KIND, cost.shape, cost.params, cost.nontrainable, cost.macs,
                            note, aux))
            if layer.BLOCK:
                block_shapes[layer.name] = cost.shape
            fitted.append(layer)
            shape = cost.shape
            after = f"{layer.name} ({_fmt(shape)})"
            last_name[0] = after
        return shape, tuple(fitted)

    shape = inp
    last_name = [f"the input ({_fmt(inp)})"]
    stages = []
    for stage in spec.stages:
        shape, fitted = walk(stage.name, stage.layers, shape, False, last_name[0])
        if shape is None:
            break
        stages.append(Stage(stage.name, fitted))
    if shape is not None and shape != (spec.classes,):
        last = spec.stages[-1].layers[-1] if spec.stages and spec.stages[-1].layers else None
        where = last.path if last is not None else ("stages",)
        problems.append(doc.problem(where, f"the network must end in {spec.classes} logits (classes: "
                                           f"{spec.classes}), but its last layer gives {_fmt(shape)}; end with "
                                           f"global_avgpool and dense"))
    heads = []
    for head in spec.aux_heads:
        hpath = ("aux_heads", head.name)
        if head.after not in block_shapes:
            blocks = list(block_shapes)
            problems.append(doc.problem(hpath + ("after",), f"no Inception block named '{head.after}'"
                                                           f"{did_you_mean(head.after, blocks)} (blocks: "
                                                           f"{', '.join(blocks) or 'none'})"))
            continue
        out, fitted = walk(head.name, head.layers, block_shapes[head.after], True,
                           f"{head.after} ({_fmt(block_shapes[head.after])})")
        if out is not None and out != (spec.classes,):
            problems.append(doc.problem(hpath + ("layers",), f"an auxiliary head must end in {spec.classes} logits, "
                                                            f"but gives {_fmt(out)}"))
        heads.append(replace(head, layers=fitted))
    raise_if(problems)
    return replace(spec, stages=tuple(stages), aux_heads=tuple(heads), rows=tuple(rows))

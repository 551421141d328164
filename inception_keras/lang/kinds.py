"""The layer kinds of the architecture language: a registry of frozen dataclasses, each with its cost rule.

A kind is one frozen dataclass: its fields are the YAML keys (`options.option`: type, default, meaning),
and its methods give the output shape, parameters and multiply-adds (`cost`). The parser, the checker,
the summary and the reference in docs/yaml.md read the registry (`LAYER_KINDS`); the Keras builder function
of each kind is registered beside it in nn/blocks.py. Adding a kind means one class here and one function
there.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

from inception_keras.lang.geometry import Cost, axis, conv_cost, pair_text, pool_out, shape_text
from inception_keras.lang.options import option

ACTIVATIONS = ("relu", "relu6", "elu", "selu", "gelu", "silu", "swish", "tanh", "sigmoid", "softplus",
               "leaky_relu", "linear")
INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
                "orthogonal", "truncated_normal", "random_normal", "random_uniform")
MAX_CHANNELS = 1 << 16  # more channels than any image network uses; keeps an accidental 10**12 from building


def channel_count(doc: str, **more) -> Any:
    """A number of channels: an integer > 0, scaled by the architecture's `width`."""
    return option("pos_int", doc, channels=True, maximum=MAX_CHANNELS, **more)


def inherited(key: str, kind: str, choices: tuple = ()) -> Any:
    """A layer key that is null unless given: null takes `defaults.<key>`."""
    return option(kind, f"overrides defaults.{key}", None, choices=choices, nullable=True, inherit=key)


LAYER_KINDS: dict[str, type] = {}  # YAML name -> layer kind, in the order the reference lists them


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
    trainable: bool = option("bool", "false: frozen (a block: all its layers): its weights never change in "
                                     "training and its BatchNorm runs in inference mode, as Keras does", True)
    path: tuple = field(default=(), compare=False, repr=False)  # YAML path of the definition

    def resolved(self, classes: int) -> Layer:
        """Fill what depends on the network (a dense layer's default units)."""
        return self

    def problems(self) -> list[tuple[str, str]]:
        """Checks across keys: [(key, message)]."""
        return []

    def fit(self, shape: tuple, input_shape: tuple) -> tuple[Layer, str]:
        """The layer adapted to the feature map it gets (a pool with `adapt`), and a note saying so."""
        return self, ""

    def shape_problem(self, shape: tuple) -> str | None:
        """Why this layer cannot take a feature map of `shape` (branches that do not join); None if it can."""
        return None

    def cost(self, shape: tuple) -> Cost:
        raise NotImplementedError

    @property
    def window(self) -> str:
        return pair_text(getattr(self, "size", getattr(self, "kernel", "")))


@dataclass(frozen=True, kw_only=True)
class ConvSettings:
    """The keys a conv and an Inception block (for its six convolutions) take from the architecture's `defaults`.

    Declared once here; a kind lists it after `Layer` (`class Conv(Layer, ConvSettings)`), so these keys come
    after the kind's own keys and before the inherited `name`, as `options` orders them."""

    activation: str = inherited("activation", "choice", ACTIVATIONS)
    use_bias: bool = inherited("use_bias", "bool")
    batch_norm: bool = inherited("batch_norm", "bool")
    initializer: str = inherited("initializer", "choice", INITIALIZERS)
    bn_epsilon: float = inherited("bn_epsilon", "pos_number")
    bn_momentum: float = inherited("bn_momentum", "rate")
    bn_center: bool = inherited("bn_center", "bool")
    bn_scale: bool = inherited("bn_scale", "bool")

    @property
    def bn_values(self) -> int:
        """Values BatchNorm keeps per channel: moving mean and variance, and beta and gamma where used."""
        return 2 + int(self.bn_center) + int(self.bn_scale)

    def conv_settings(self) -> dict:
        """These keys and their values, to give a Conv the settings of this layer."""
        return {f.name: getattr(self, f.name) for f in fields(ConvSettings)}


@layer_kind
@dataclass(frozen=True, kw_only=True)
class Conv(Layer, ConvSettings):
    KIND = "conv"
    DOC = "convolution + activation (with batch_norm: convolution, BatchNorm, activation)"

    filters: int = channel_count("output channels")
    kernel: Any = option("size", "kernel size: N (square) or [height, width] (`[1, 7]`)")
    stride: Any = option("size", "stride: N or [height, width]", 1)
    padding: Any = inherited("padding", "padding")

    def cost(self, shape):
        h, w, cin = shape
        return conv_cost(cin, h, w, self.filters, self.kernel, self.stride, self.padding, self.use_bias,
                         self.batch_norm, self.bn_values)


@layer_kind
@dataclass(frozen=True, kw_only=True)
class SepConv(Layer, ConvSettings):
    KIND = "sepconv"
    DOC = ("depthwise-separable convolution (Keras' SeparableConv2D: one kxk filter per input channel, then a 1x1 "
           "to `filters`) + activation (with batch_norm: then BatchNorm, activation)")

    filters: int = channel_count("output channels")
    kernel: Any = option("size", "kernel of the depthwise step: N or [height, width]")
    stride: Any = option("size", "stride: N or [height, width]", 1)
    padding: Any = inherited("padding", "padding")

    def cost(self, shape):
        h, w, cin = shape
        return conv_cost(cin, h, w, self.filters, self.kernel, self.stride, self.padding, self.use_bias,
                         self.batch_norm, self.bn_values, depthwise=True)


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
        if self.ceil_mode and isinstance(self.padding, tuple):
            return [("ceil_mode", "ceil_mode takes padding valid or one integer for both axes")]
        return []

    def fit(self, shape, input_shape):
        h, w, _ = shape
        if not (self.adapt and self.padding in ("valid", 0) and self.size > min(h, w)):
            return self, ""
        size = min(h, w)
        note = (f"{self.name}: {self.KIND} {self.size}x{self.size}/{self.stride} does not fit the {h}x{w} feature "
                f"map at input {shape_text(input_shape)}; adapted to {size}x{size}/{self.stride} (adapt: true)")
        return replace(self, size=size, adapted_from=self.size), note

    def cost(self, shape):
        h, w, c = shape
        return Cost((pool_out(h, self.size, self.stride, axis(self.padding, 0), self.ceil_mode),
                     pool_out(w, self.size, self.stride, axis(self.padding, 1), self.ceil_mode), c))


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
class Activation(Layer):
    KIND = "activation"
    DOC = "an activation function on its own (after a batch_norm, or after a residual sum)"
    INPUT = "any"

    function: str = option("choice", "the activation", "relu", choices=ACTIVATIONS)

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
    center: bool = inherited("bn_center", "bool")
    scale: bool = inherited("bn_scale", "bool")

    def cost(self, shape):
        return Cost(shape, (int(self.center) + int(self.scale)) * shape[-1], 2 * shape[-1])


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
        if not self.residual and (self.shortcut or self.scale != 1.0):
            return [("residual", "shortcut and scale belong to a residual block: add `residual: true`")]
        return []

    def parts(self, shape: tuple) -> tuple[list, tuple | None, list, tuple | None]:
        """(each branch's output shape and costs, the joined shape, then's costs, the shortcut's shape)."""
        outs = [chain_cost(b, shape) for b in self.branches]
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

"""The base of every layer kind: the registry, `Layer` and the option helpers the kinds share."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from inception_keras.lang.geometry import Cost, pair_text
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

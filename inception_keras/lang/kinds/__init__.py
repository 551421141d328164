"""The layer kinds of the architecture language: a registry of frozen dataclasses, each with its cost rule.

A kind is one frozen dataclass: its fields are the YAML keys (`options.option`: type, default, meaning),
and its methods give the output shape, parameters and multiply-adds (`cost`). The parser, the checker,
the summary and the reference in docs/yaml.md read the registry (`LAYER_KINDS`); the Keras builder function
of each kind is registered beside it in nn/blocks.py. Adding a kind means one class in the module of its
family here and one function there.

base    the registry (`LAYER_KINDS`, `layer_kind`), `Layer`, the shared option helpers
conv    `conv`, `sepconv` and the settings every convolution shares
pool    `maxpool`, `avgpool`, `adaptive_avgpool`, `global_avgpool`
core    `flatten`, `dropout`, `activation`, `dense`
norm    `batch_norm`, `lrn`
blocks  `inception`, `branch`
metanext `layer_norm`, `layer_scale`, `drop_path` (InceptionNeXt)

Importing this package registers every kind, in the order the reference lists them.
"""
from inception_keras.lang.kinds.base import (
    ACTIVATIONS,
    INITIALIZERS,
    LAYER_KINDS,
    MAX_CHANNELS,
    Layer,
    channel_count,
    inherited,
    layer_kind,
)

# The import order below is the registration order: the order docs/yaml.md and the error messages list kinds.
# isort: off
from inception_keras.lang.kinds.conv import Conv, ConvSettings, SepConv
from inception_keras.lang.kinds.pool import AdaptiveAvgPool, AvgPool, GlobalAvgPool, MaxPool, Pool
from inception_keras.lang.kinds.core import Activation, Dense, Dropout, Flatten
from inception_keras.lang.kinds.norm import LRN, BatchNorm
from inception_keras.lang.kinds.blocks import Branch, Inception, chain_cost
from inception_keras.lang.kinds.metanext import DropPath, LayerNorm, LayerScale
# isort: on

__all__ = ["ACTIVATIONS", "INITIALIZERS", "LAYER_KINDS", "LRN", "MAX_CHANNELS", "Activation", "AdaptiveAvgPool",
           "AvgPool", "BatchNorm", "Branch", "Conv", "ConvSettings", "Dense", "DropPath", "Dropout", "Flatten",
           "GlobalAvgPool", "Inception", "Layer", "LayerNorm", "LayerScale", "MaxPool", "Pool", "SepConv",
           "channel_count", "chain_cost", "inherited", "layer_kind"]

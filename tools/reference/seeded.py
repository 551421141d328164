"""Deterministic tensors for the golden references: the same numbers in the originals and in our tests.

NumPy only, so it imports in the reference venvs (MXNet's, with numpy<1.24; torchvision's) and in the
project's test suite alike. Nothing here is a weight file: weights are regenerated from (seed, key, shape).

Convention
----------
* A tensor is generated **in the original's layout** and keyed by **the original's name**:
  - torchvision: the `state_dict()` key (`inception3a.branch2.1.conv.weight`), conv kernels OIHW,
    linear weights (out, in);
  - MXNet (the d2l seed): `param{index:03d}`, the parameter's position in `net.collect_params()`
    order (gluon's automatic prefixes such as `conv12_` vary with what was built before), conv
    kernels OIHW, dense weights (out, in). The fixture stores each name's shape and role, and the
    importer checks the shapes.
  An importer transposes into Keras' layout (HWIO kernels, (in, out) dense), never the generator.
* The random stream is `np.random.default_rng([seed, crc32(key)])`: independent of the order in
  which keys are asked for, and of every other key.
* Scale by role, so a 60-layer network neither explodes nor dies and every statistic matters:
    kernel  normal * sqrt(2 / fan_in)   (He; fan_in = product of all but the first axis)
    bias    normal * 0.05
    gamma   1 + normal * 0.1            (BatchNorm weight)
    beta    normal * 0.1                (BatchNorm bias)
    mean    normal * 0.1                (BatchNorm running_mean)
    var     uniform(0.5, 1.5)           (BatchNorm running_var: perturbed, not the identity)
  float32 throughout (`num_batches_tracked` is int64 zeros).
* Inputs: `inputs(seed, key, shape)` is N(0, 1) float32; `images(seed, key, shape)` is what a data
  pipeline feeds from 8-bit images: uniform integers 0..255 divided by 255, float32 in [0, 1].

`digest(array)` is a SHA-256 of dtype, shape and bytes: fixtures record it so a test can tell a
changed generator (NumPy's stream) from a changed network.
"""
from __future__ import annotations

import hashlib
import re
import zlib

import numpy as np

ROLES = ("kernel", "bias", "gamma", "beta", "mean", "var", "count")


def rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(key.encode("utf-8"))])


def tensor(seed: int, key: str, shape, role: str) -> np.ndarray:
    """The tensor for `key` (the original's name) of `shape` (the original's layout) and `role`."""
    shape = tuple(int(d) for d in shape)
    g = rng(seed, key)
    if role == "kernel":
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return (g.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    if role == "bias":
        return (g.standard_normal(shape) * 0.05).astype(np.float32)
    if role == "gamma":
        return (1.0 + g.standard_normal(shape) * 0.1).astype(np.float32)
    if role in ("beta", "mean"):
        return (g.standard_normal(shape) * 0.1).astype(np.float32)
    if role == "var":
        return g.uniform(0.5, 1.5, shape).astype(np.float32)
    if role == "count":
        return np.zeros(shape, np.int64)
    raise ValueError(f"unknown role {role!r} for {key!r} (one of {', '.join(ROLES)})")


def inputs(seed: int, key: str, shape) -> np.ndarray:
    """N(0, 1) float32 inputs, e.g. inputs(0, "noise", (4, 1, 96, 96))."""
    return rng(seed, key).standard_normal(tuple(int(d) for d in shape)).astype(np.float32)


def images(seed: int, key: str, shape) -> np.ndarray:
    """[0, 1] float32 images with 8-bit values (u8 / 255), e.g. images(0, "images224", (2, 3, 224, 224))."""
    u8 = rng(seed, key).integers(0, 256, tuple(int(d) for d in shape), dtype=np.uint8)
    return u8.astype(np.float32) / np.float32(255)


# ----------------------------------------------------------------------------- torchvision


def torchvision_role(key: str, shape) -> str:
    """The role of a torchvision or timm state_dict key (BatchNorm's `.bn.*`, `.bn_dw.*`, convs, linears)."""
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return "count"
    if leaf == "running_mean":
        return "mean"
    if leaf == "running_var":
        return "var"
    if re.search(r"\.bn(_\w+)?\.", f".{key}"):  # BasicConv2d's `.bn.`, timm's SeparableConv2d `.bn_dw.`, `.bn_pw.`
        return {"weight": "gamma", "bias": "beta"}[leaf]
    if leaf == "weight":
        return "kernel"
    if leaf == "bias":
        return "bias"
    raise ValueError(f"cannot tell the role of torchvision key {key!r}")


def torchvision_state_dict(seed: int, keys_shapes) -> dict:
    """{key: array} for [(key, shape), ...], as torchvision_googlenet.py loads into the model."""
    return {k: tensor(seed, k, s, torchvision_role(k, s)) for k, s in keys_shapes}


def state_dict(seed: int, keys_shapes, roles) -> dict:
    """{key: array} for [(key, shape), ...] with each key's role given (timm_next.py reads the roles off the
    model's modules: a BatchNorm's or LayerNorm's weight is a gamma, a layer scale's `gamma` too)."""
    return {k: tensor(seed, k, s, r) for (k, s), r in zip(keys_shapes, roles)}


def load_seeded(model, seed: int):
    """Load the seeded state dict into a PyTorch `model` (strict), switch it to eval mode and check that it holds
    exactly those arrays; returns (model, [(key, shape)], the arrays as loaded). torch is the caller's import."""
    import torch

    keys_shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    state = torchvision_state_dict(seed, keys_shapes)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    model.eval()
    loaded = [v.detach().cpu().numpy() for v in model.state_dict().values()]
    for (k, _), a in zip(keys_shapes, loaded):
        assert np.array_equal(a, state[k]), k
    return model, keys_shapes, loaded


# ----------------------------------------------------------------------------- MXNet (the d2l seed)


def mxnet_name(index: int) -> str:
    """The stable name of the index-th parameter in `net.collect_params()` order."""
    return f"param{index:03d}"


def mxnet_role(gluon_name: str) -> str:
    """Role from a gluon parameter name (`conv0_weight`, `dense0_bias`)."""
    if gluon_name.endswith("weight"):
        return "kernel"
    if gluon_name.endswith("bias"):
        return "bias"
    raise ValueError(f"cannot tell the role of gluon parameter {gluon_name!r}")


def mxnet_params(seed: int, shapes_roles) -> list:
    """[array, ...] in collect_params order for [(shape, role), ...]."""
    return [tensor(seed, mxnet_name(i), s, r) for i, (s, r) in enumerate(shapes_roles)]


# ----------------------------------------------------------------------------- checks


def digest(array: np.ndarray) -> str:
    a = np.asarray(array)
    a = a if a.flags.c_contiguous else a.copy(order="C")  # (np.ascontiguousarray makes 0-d arrays 1-d)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def digest_all(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(digest(a).encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------- compact summaries


FULL_LIMIT = 8192  # elements: a tensor this small is stored whole
SAMPLE = 4096


def sample_index(size: int, n: int = SAMPLE) -> np.ndarray:
    """A deterministic, sorted subsample of flat indices (depends only on size and n)."""
    if size <= n:
        return np.arange(size, dtype=np.int64)
    return np.sort(np.random.default_rng([size, n]).choice(size, n, replace=False)).astype(np.int64)


def compact(prefix: str, x: np.ndarray, channel_axis: int = 1) -> dict:
    """Arrays describing one activation (batch 1 or more) small enough for a fixture.

    `{prefix}.shape` always; `{prefix}.full` when x has at most FULL_LIMIT elements; otherwise
    `{prefix}.sample` (x.ravel()[sample_index(x.size)], in the original's layout) and per-channel
    `{prefix}.channel_mean` / `{prefix}.channel_max` over every other axis.
    """
    x = np.asarray(x, np.float32)
    out = {f"{prefix}.shape": np.array(x.shape, np.int64)}
    if x.size <= FULL_LIMIT:
        out[f"{prefix}.full"] = x
        return out
    out[f"{prefix}.sample"] = x.ravel()[sample_index(x.size)]
    axes = tuple(a for a in range(x.ndim) if a != channel_axis % x.ndim)
    out[f"{prefix}.channel_mean"] = x.astype(np.float64).mean(axis=axes).astype(np.float32)
    out[f"{prefix}.channel_max"] = x.max(axis=axes)
    return out


# ----------------------------------------------------------------------------- TF-Slim

_SLIM_ROLES = {"biases": "bias", "beta": "beta", "gamma": "gamma", "moving_mean": "mean",
               "moving_variance": "var"}


def slim_tensor(seed: int, name: str, shape) -> np.ndarray:
    """The value of Slim variable `name` (`InceptionV2/Mixed_3b/Branch_0/Conv2d_0a_1x1/weights`) of `shape` in
    TensorFlow's layout: kernels HWIO (`weights`, `pointwise_weights`: fan_in = H*W*I; `depthwise_weights`
    [kh, kw, cin, m]: fan_in = kh*kw), He-scaled; the other leaves by the roles above."""
    shape = tuple(int(d) for d in shape)
    leaf = name.rsplit("/", 1)[-1]
    if leaf in ("weights", "pointwise_weights", "depthwise_weights"):
        fan_in = shape[0] * shape[1] if leaf == "depthwise_weights" else int(np.prod(shape[:-1]))
        return (rng(seed, name).standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    if leaf not in _SLIM_ROLES:
        raise ValueError(f"no role for the Slim variable {name!r}")
    return tensor(seed, name, shape, _SLIM_ROLES[leaf])

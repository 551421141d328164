"""PyTorch state dicts (timm's, torchvision's) onto our Keras models by structure, not by names.

The model gives its layers in data-flow order (`flow_order`): a depth-first walk from each output that visits a
layer's inputs in their order (a concatenation's first branch first) and lists a layer after everything it reads.
The state dict gives modules, keyed by prefix: conv (a 4-d `weight`, optional `bias`; a depthwise one maps onto
DepthwiseConv2D), bn (`running_mean`, `running_var`, `weight`, `bias`), linear (a 2-d `weight`, optional `bias`),
ln (LayerNorm: a 1-d `weight`, optional `bias`) or scale (a layer scale: a 1-d `gamma` alone, timm's MetaNeXt).
Key order is not trusted (a .safetensors file keeps its keys sorted by name): modules are put in natural key
order (`features.10` after `features.9`), and each layer with weights, in flow order, takes a free module of its
kind and shape (PyTorch layout). Among equal candidates it takes the one sharing most of the previous module's
path (a conv's own `bn`, the next layer of the same branch), then the first in key order; names are compared
with each other, never with ours. Aux heads (top-level names starting with `aux`) are matched apart: they go to
the model's aux heads in order, or are skipped, and reported, when it has none.

Every tensor is accounted for: one nothing takes is `unused`, a layer weight none gives `missing`, one of the wrong
shape `mis-shaped`; each is a Problem naming the key (or layer), raised together as one ConfigError (exit 2); nothing
is assigned unless everything maps. `num_batches_tracked` is ignored. Layouts: conv OIHW -> HWIO (depthwise (C, 1, kh,
kw) -> (kh, kw, C, 1)), linear (out, in) -> (in, out); a Dense layer reading a Flatten of a map larger than 1x1 gets
its rows permuted from PyTorch's channels-first flatten to the model's order, read off the model by running the
weightless layers between the map and the Dense layer on flat indices.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from inception_keras.errors import ConfigError, Problem

_AUX = re.compile(r"^aux", re.IGNORECASE)
_BN_LEAVES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


@dataclass
class TorchModule:
    """One state-dict module: its prefix, kind (conv, bn, linear or other) and {leaf: key}."""

    prefix: str
    kind: str
    keys: dict
    shape: tuple  # the defining tensor's shape (PyTorch layout)

    def describe(self) -> str:
        return f"{self.prefix} ({self.kind} {'x'.join(map(str, self.shape))})"


def torch_modules(state: dict) -> list:
    """The state dict's modules in key order (num_batches_tracked left out)."""
    grouped = {}
    for key in state:
        prefix, _, leaf = key.rpartition(".")
        if leaf != "num_batches_tracked":
            grouped.setdefault(prefix, {})[leaf] = key
    out = []
    for prefix, keys in grouped.items():
        if "running_mean" in keys or "running_var" in keys:
            kind, main = "bn", keys.get("running_mean") or keys["running_var"]
        elif "weight" in keys and np.ndim(state[keys["weight"]]) == 4:
            kind, main = "conv", keys["weight"]
        elif "weight" in keys and np.ndim(state[keys["weight"]]) == 2:
            kind, main = "linear", keys["weight"]
        elif "weight" in keys and np.ndim(state[keys["weight"]]) == 1 and set(keys) <= {"weight", "bias"}:
            kind, main = "ln", keys["weight"]
        elif set(keys) == {"gamma"} and np.ndim(state[keys["gamma"]]) == 1:
            kind, main = "scale", keys["gamma"]
        else:
            kind, main = "other", next(iter(keys.values()))
        out.append(TorchModule(prefix, kind, keys, tuple(int(d) for d in np.shape(state[main]))))
    return out


# ----------------------------------------------------------------------------- the model's side


def _producers(layers_) -> dict:
    """{id(output tensor): layer} for every layer of the graph."""
    out = {}
    for layer in layers_:
        try:
            outputs = layer.output
        except (AttributeError, ValueError):
            continue
        for t in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
            out[id(t)] = layer
    return out


def _inputs(layer) -> list:
    try:
        x = layer.input
    except (AttributeError, ValueError):
        return []
    if isinstance(x, dict):
        x = list(x.values())
    return list(x) if isinstance(x, (list, tuple)) else [x]


def flow_order(model) -> list:
    """[(output name, [layer, ...])]: the layers each output needs that no earlier output needed, in data-flow
    order (a layer after its inputs, a layer's inputs in their order)."""
    producer = _producers(model.layers)
    outputs = model.output if isinstance(model.output, dict) else {"logits": model.output}
    seen, result = set(), []
    for name, tensor in outputs.items():
        order, stack = [], [(producer.get(id(tensor)), False)]
        while stack:
            layer, expanded = stack.pop()
            if layer is None or (id(layer) in seen and not expanded):
                continue
            if expanded:
                order.append(layer)
                continue
            seen.add(id(layer))
            stack.append((layer, True))
            for t in reversed(_inputs(layer)):
                stack.append((producer.get(id(t)), False))
        result.append((name, order))
    return result


def _kind(layer) -> str:
    import keras

    from inception_keras.nn.blocks_next import LayerScale

    for cls, kind in ((keras.layers.BatchNormalization, "bn"), (keras.layers.LayerNormalization, "ln"),
                      (LayerScale, "scale")):
        if isinstance(layer, cls):
            return kind
    if isinstance(layer, keras.layers.DepthwiseConv2D) or (
            isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.SeparableConv2D)):
        return "conv"
    if isinstance(layer, keras.layers.Dense):
        return "linear"
    return "other"


def _torch_shape(layer, kind) -> tuple:
    var = {v.path.rsplit("/", 1)[-1]: v for v in layer.weights}
    if kind == "bn":
        return (int(var["moving_mean"].shape[0]),)
    if kind in ("ln", "scale"):
        return (int(var["gamma"].shape[0]),)
    k = tuple(int(d) for d in var["kernel"].shape) if "kernel" in var else ()
    if kind == "conv" and len(k) == 4 and _depthwise(layer):
        return (k[2] * k[3], 1, k[0], k[1])
    if kind == "conv" and len(k) == 4:
        return (k[3], k[2], k[0], k[1])
    if kind == "linear" and len(k) == 2:
        return (k[1], k[0])
    return k


def _depthwise(layer) -> bool:
    return type(layer).__name__ == "DepthwiseConv2D"  # keras.layers.DepthwiseConv2D (no subclass of ours)


def _size(t) -> int | None:
    dims = t.shape[1:]
    return None if any(d is None for d in dims) else int(np.prod(dims))


def _flatten_permutation(layer, producer) -> np.ndarray | None:
    """For a Dense layer reading a flattened map of more than one position: keras_row[j] = torch_row[perm[j]]."""
    import keras

    chain, current = [], layer
    while True:  # back through weightless one-input layers that keep the number of values
        ins = _inputs(current)
        if len(ins) != 1:
            return None
        t = ins[0]
        prev = producer.get(id(t))
        if prev is None or prev.weights or len(_inputs(prev)) != 1:
            break
        if _size(_inputs(prev)[0]) != _size(t):  # a pool: the map it reads is not what the Dense layer sees
            break
        chain.append(prev)
        current = prev
    if len(t.shape) != 4:
        return None
    h, w, c = (int(d) for d in t.shape[1:])
    if not chain or h * w == 1:
        return None
    index = np.arange(c * h * w, dtype=np.float32).reshape(c, h, w).transpose(1, 2, 0)[None]
    x = keras.ops.convert_to_tensor(index)
    for step in reversed(chain):
        x = step(x)
    perm = np.rint(keras.ops.convert_to_numpy(x)).astype(np.int64).reshape(-1)
    if sorted(perm.tolist()) != list(range(c * h * w)):
        raise ConfigError(f"{layer.name}: the layers before it ({', '.join(s.name for s in chain)}) do not just "
                          "reorder the map they flatten; cannot map a PyTorch linear layer onto it")
    return None if np.array_equal(perm, np.arange(perm.size)) else perm


# ----------------------------------------------------------------------------- alignment


def _problem(source, path, message) -> Problem:
    return Problem(source, path, None, None, message)


def _wanted(layer, kind) -> dict:
    """{PyTorch leaf: Keras variable} the layer takes."""
    var = {v.path.rsplit("/", 1)[-1]: v for v in layer.weights}
    if kind == "bn":
        return {leaf: var[k] for leaf, k in _BN_LEAVES.items() if k in var}
    if kind in ("ln", "scale"):
        return {"weight": var["gamma"], "bias": var["beta"]} if kind == "ln" else {"gamma": var["gamma"]}
    return {"weight": var["kernel"], **({"bias": var["bias"]} if "bias" in var else {})}


def _convert(array, kind, leaf, perm, depthwise=None) -> np.ndarray:
    """A PyTorch tensor in Keras' layout; `depthwise`: the Keras DepthwiseConv2D kernel's shape (kh, kw, C, m),
    whose PyTorch weight (groups=C) is (C * m, 1, kh, kw)."""
    a = np.asarray(array)
    if leaf != "weight" or kind in ("bn", "ln", "scale"):
        return a
    if depthwise is not None and a.ndim == 4 and a.shape[0] == depthwise[2] * depthwise[3]:
        kh, kw, c, m = depthwise
        return a.reshape(c, m, a.shape[2], a.shape[3]).transpose(2, 3, 0, 1)
    if kind == "conv":
        return a.transpose(2, 3, 1, 0) if a.ndim == 4 else a
    a = a.T if a.ndim == 2 else a
    return a[perm] if perm is not None and a.ndim == 2 and a.shape[0] == perm.size else a


def _pair(module, layer, state, producer, source, problems) -> list:
    """[(key, variable, array)] for one module mapped onto one layer; problems for what does not fit."""
    kind = module.kind
    wanted = _wanted(layer, kind)
    perm = _flatten_permutation(layer, producer) if kind == "linear" else None
    for leaf, key in module.keys.items():
        if leaf not in wanted:
            problems.append(_problem(source, key, f"unused: {layer.name} ({type(layer).__name__}) has no such "
                                                  "weight"))
    pairs = []
    for leaf, v in wanted.items():
        key = module.keys.get(leaf)
        if key is None:
            problems.append(_problem(source, f"{module.prefix}.{leaf}", f"missing: {v.path} {tuple(v.shape)} "
                                                                       "needs it"))
            continue
        a = _convert(state[key], kind, leaf, perm, tuple(v.shape) if _depthwise(layer) and leaf == "weight" else None)
        if tuple(a.shape) != tuple(v.shape):
            theirs = _torch_shape(layer, kind) if leaf == "weight" else tuple(v.shape)
            problems.append(_problem(source, key, f"mis-shaped: {tuple(np.shape(state[key]))} does not fit "
                                                  f"{v.path} {tuple(v.shape)} (PyTorch layout {theirs})"))
        else:
            pairs.append((key, v, a))
    return pairs


def _layers_with_weights(order, source, problems) -> list:
    out = []
    for layer in order:
        if not layer.weights:
            continue
        kind = _kind(layer)
        if kind == "other":
            problems.append(_problem(source, layer.name, f"{type(layer).__name__} has weights no PyTorch conv, "
                                                         "bn or linear module maps onto"))
        else:
            out.append((layer, kind, _torch_shape(layer, kind)))
    return out


def _common(a: str, b: str | None) -> int:
    """How many leading path components two module prefixes share (siblings in a block share the block's)."""
    n = 0
    for x, y in zip(a.split("."), (b or "").split(".")):
        if x != y:
            break
        n += 1
    return n


def _choose(candidates, mods, prev) -> int:
    """The module to take among same-kind, same-shape candidates (indices in natural key order): the one sharing
    most of the last taken module's path (a conv's own bn, the next layer of the same branch or block), then the
    first in key order (the next of identical blocks; of a block's same-shaped branches, the first by name)."""
    prefix = mods[prev].prefix if prev is not None else None
    return max(candidates, key=lambda i: (_common(mods[i].prefix, prefix), -i))


def _match(mods, entries, state, producer, source, problems) -> list:
    """Pairs of tensors, each model layer (in flow order) matched to a free module of its kind and shape;
    problems for every module and layer left over (same-kind leftovers, one for one, as mis-shaped)."""
    free = {}
    for i, m in enumerate(mods):
        free.setdefault((m.kind, m.shape), []).append(i)
    matched, left_layers, prev = [], [], None
    for entry in entries:
        candidates = free.get((entry[1], entry[2]))
        if not candidates:
            left_layers.append(entry)
            continue
        prev = _choose(candidates, mods, prev)
        candidates.remove(prev)
        matched.append((mods[prev], entry[0]))
    taken = {id(m) for m, _ in matched}
    left_mods = [m for m in mods if id(m) not in taken]
    if [m.kind for m in left_mods] == [e[1] for e in left_layers]:
        matched += [(m, e[0]) for m, e in zip(left_mods, left_layers)]
        left_mods, left_layers = [], []
    pairs = []
    for m, layer in matched:
        pairs += _pair(m, layer, state, producer, source, problems)
    for m in left_mods:
        problems += [_problem(source, key, f"unused: no layer of the model takes {m.describe()}")
                     for key in m.keys.values()]
    for layer, kind, shape in left_layers:
        problems.append(_problem(source, layer.name, f"missing: the state dict has no {kind} module of shape "
                                                     f"{'x'.join(map(str, shape))} for {layer.name} "
                                                     f"({type(layer).__name__})"))
    return pairs


def _natural(key: str) -> tuple:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in key.split("."))


# ----------------------------------------------------------------------------- the whole model


def _split_aux(mods) -> tuple[list, dict]:
    main, heads = [], {}
    for m in mods:
        top = m.prefix.split(".", 1)[0]
        if _AUX.match(top):
            heads.setdefault(top, []).append(m)
        else:
            main.append(m)
    return main, heads


def state_dict_to_keras(state: dict, model, source: str | None = None):
    """Set `model`'s weights (a keras.Model; the training model when it has aux heads) from a PyTorch state dict
    by structure; return an `ImportReport`. ConfigError lists every missing, unused or mis-shaped tensor."""
    from inception_keras.weights.torchvision import ImportReport

    problems, report = [], ImportReport()
    report.ignored = [k for k in state if k.endswith("num_batches_tracked")]
    main_mods, torch_heads = _split_aux(sorted(torch_modules(state), key=lambda m: _natural(m.prefix)))
    producer = _producers(model.layers)
    flows = flow_order(model)
    pairs = _match(main_mods, _layers_with_weights(flows[0][1], source, problems), state, producer, source, problems)
    ours = flows[1:]
    for i, (top, mods) in enumerate(torch_heads.items()):
        if not ours:
            report.skipped += [(k, "the architecture has no aux heads") for m in mods for k in m.keys.values()]
        elif i < len(ours):
            entries = _layers_with_weights(ours[i][1], source, problems)
            pairs += _match(mods, entries, state, producer, source, problems)
        else:
            problems += [_problem(source, k, f"unused: the model has {len(ours)} aux heads, {top} would be number "
                                             f"{i + 1}") for m in mods for k in m.keys.values()]
    if torch_heads:
        problems += [_problem(source, name, "missing: the state dict has no aux head for this head of the model")
                     for name, _ in ours[len(torch_heads):]]
    elif ours:
        problems += [_problem(source, name, "missing: the state dict has no aux-head modules (AuxLogits, aux1, ...); "
                                            "drop the model's aux heads with --set aux_heads=null")
                     for name, _ in ours]
    if problems:
        raise ConfigError(problems)
    for key, v, a in pairs:
        with np.errstate(over="ignore"):  # an overflow to inf is refused by imported.check_weights
            v.assign(np.asarray(a, dtype=v.dtype))
        report.mapped.append((key, v.path))
    return report


def import_structural(state_dict_path: str, arch_path: str, out_path: str, input_shape=None, sets=None):
    """Build `arch_path` (at `input_shape` [h, w, c] if given, with `sets` applied), load a timm/PyTorch state dict
    into it by structure and write `.weights.h5` (the training model's weights, aux heads included) or `.keras`
    (the inference model). Returns the `ImportReport`."""
    import os

    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_models
    from inception_keras.weights.imported import check_output, is_whole_model, normalize_note, write_model
    from inception_keras.weights.state_dict import load_state_dict

    out = check_output(out_path)
    sets = list(sets or []) + ([("input", [int(d) for d in input_shape])] if input_shape else [])
    spec = load_arch(arch_path, sets=sets or None)
    state = load_state_dict(state_dict_path)
    models = build_models(spec)
    report = state_dict_to_keras(state, models.train, source=os.fspath(state_dict_path))
    write_model(out, models.inference, models.train, source=os.fspath(state_dict_path))
    what = "the inference model" if is_whole_model(out) else "the weights of the training model"
    heads = [h.name for h in spec.aux_heads]
    if heads:
        what += (f" (without the aux heads {', '.join(heads)}: write .weights.h5 to keep them)"
                 if is_whole_model(out) else f" with its aux heads {', '.join(heads)}")
    report.notes.append(f"wrote {out}: {what} of {spec.name} at input {'x'.join(map(str, spec.input))}"
                        f"{normalize_note(spec)}")
    return report

"""Pretrained weights from the originals: torchvision's GoogLeNet state dict onto our Keras models.

`load_state_dict(path)` (weights.state_dict) reads a state dict from `.npz`, `.safetensors` (with the
safetensors library) or `.pth` / `.pt` (only where `import torch` works). `torchvision_to_keras(state,
model)` maps it onto a model built from an architecture YAML (arch/googlenet_bn.yaml is torchvision's
network) and returns an `ImportReport`; `import_torchvision(...)` does both and writes `.weights.h5`
or `.keras`.

Names. torchvision's `conv1`, `conv2`, `conv3` are our first three convolutions outside Inception
blocks, in model order (`b1.conv1`, `b2.conv1`, `b2.conv2`); `inception3a.branch1` ... `branch4.1`
are `3a.1x1`, `3a.3x3_reduce`, `3a.3x3`, `3a.5x5_reduce`, `3a.5x5`, `3a.pool_proj`; a BasicConv2d's
`.bn` is our `<conv>.bn`; `fc` is the one Dense layer outside aux heads; an aux head `auxN`'s
`conv`, `fc1`, `fc2` are our `auxN.conv1`, `auxN.dense1`, `auxN.dense2`.

Layouts. torch conv kernels OIHW become Keras HWIO (transpose (2, 3, 1, 0)); linear weights (out, in)
become (in, out). torchvision's aux head flattens its 128x4x4 map channels-first before fc1; a
channels-last Keras Flatten orders it (h, w, c), so fc1's input rows are permuted to match. By default
(`flatten_order="auto"`) the order is read off the model itself: the head's weightless layers between
its convolution and its first Dense layer are run on a tensor of flat indices, so a channels-first
flatten (a transpose, or a future `flatten: {order: channels_first}`) needs no permutation and gets none.

Every tensor is accounted for: a key missing from the state dict, a key nothing uses, or a tensor of
the wrong shape raises `ConfigError` naming the key (the CLI exits 2). Aux-head keys are skipped when
the model has no such head, and the report says so; `num_batches_tracked` is ignored.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np

from inception_keras.errors import ConfigError, Problem
from inception_keras.weights.imported import check_output, is_whole_model, normalize_note, write_model
from inception_keras.weights.state_dict import load_state_dict, read_safetensors, write_safetensors

__all__ = ["ImportReport", "declaration_order", "gluon_to_keras", "import_torchvision", "load_state_dict",
           "read_safetensors", "torchvision_to_keras", "write_safetensors"]

BRANCHES = {  # torchvision Inception submodule -> our conv name suffix
    "branch1": "1x1",
    "branch2.0": "3x3_reduce",
    "branch2.1": "3x3",
    "branch3.0": "5x5_reduce",
    "branch3.1": "5x5",
    "branch4.1": "pool_proj",
}
BRANCH_ORDER = tuple(BRANCHES.values())  # also the d2l seed's p1, p2_1, p2_2, p3_1, p3_2, p4_2
STEM = ("conv1", "conv2", "conv3")
AUX_LAYERS = {"conv1": "conv", "dense1": "fc1", "dense2": "fc2"}  # ours -> torchvision InceptionAux
_AUX = re.compile(r"^(aux\d+)\.(.+)$")
_BN_KEYS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


# ----------------------------------------------------------------------------- mapping


@dataclass
class ImportReport:
    """What an import did: every state-dict key is in exactly one of mapped, skipped, ignored."""

    mapped: list = field(default_factory=list)  # (torch key, keras variable path)
    skipped: list = field(default_factory=list)  # (torch key, why)
    ignored: list = field(default_factory=list)  # num_batches_tracked keys
    notes: list = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"mapped {len(self.mapped)} tensors onto {len({v.rsplit('/', 1)[0] for _, v in self.mapped})} layers"]
        reasons = {}
        for key, why in self.skipped:
            reasons.setdefault(why, []).append(key)
        for why, keys in reasons.items():
            heads = sorted({k.split(".", 1)[0] for k in keys})
            lines.append(f"skipped {len(keys)} keys ({', '.join(h + '.*' for h in heads)}): {why}")
        if self.ignored:
            lines.append(f"ignored {len(self.ignored)} num_batches_tracked keys")
        lines += self.notes
        return "\n".join(lines)


def _layers(model_or_models) -> list:
    """Unique layers, in model order, of a keras.Model, a builder.Models or a list of models."""
    if hasattr(model_or_models, "train") and hasattr(model_or_models, "inference"):
        models = [model_or_models.train, model_or_models.inference]
    elif isinstance(model_or_models, (list, tuple)):
        models = list(model_or_models)
    else:
        models = [model_or_models]
    seen, out = set(), []
    for m in models:
        for layer in m.layers:
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
    return out


def _block_conv(name: str, blocks: set):
    """(block, branch) when `name` is an Inception block's conv (`3a.3x3_reduce`), else None."""
    block, _, branch = name.rpartition(".")
    return (block, branch) if block in blocks and branch in BRANCH_ORDER else None


def _flatten_permutation(layers_, head: str, conv, order: str) -> np.ndarray | None:
    """perm with keras_fc1_row[j] = torch_fc1_column[perm[j]], or None for the identity."""
    if order == "channels_first":
        return None
    h, w, c = (int(d) for d in conv.output.shape[1:])
    torch_index = np.arange(c * h * w, dtype=np.float32).reshape(c, h, w).transpose(1, 2, 0)[None]
    if order == "channels_last":
        perm = torch_index.reshape(-1).astype(np.int64)
    elif order == "auto":
        import keras

        chain, started = [], False
        for layer in layers_:
            if layer is conv:
                started = True
            elif started and layer.name.startswith(f"{head}."):
                if isinstance(layer, keras.layers.Dense):
                    break
                if not layer.weights:
                    chain.append(layer)
        x = keras.ops.convert_to_tensor(torch_index)
        for layer in chain:
            x = layer(x)
        perm = np.rint(keras.ops.convert_to_numpy(x)).astype(np.int64).reshape(-1)
        if sorted(perm.tolist()) != list(range(c * h * w)):
            raise ConfigError(f"{head}: the layers between {conv.name} and its Dense layer "
                              f"({', '.join(layer.name for layer in chain)}) do not just reorder its output; "
                              "pass flatten_order='channels_last' or 'channels_first'")
    else:
        raise ValueError(f"flatten_order must be 'auto', 'channels_last' or 'channels_first', got {order!r}")
    return None if np.array_equal(perm, np.arange(perm.size)) else perm


def _prefixes(layers_) -> tuple[dict, list]:
    """({keras conv/dense layer name: torchvision module prefix}, problems): Inception blocks' and aux heads'
    convs by name, the three stem convolutions and the one classifier by position."""
    import keras

    blocks = {layer.name for layer in layers_ if isinstance(layer, keras.layers.Concatenate)}
    prefix, stem, mains, problems = {}, [], [], []
    for layer in layers_:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            aux = _AUX.match(layer.name)
            bc = _block_conv(layer.name, blocks)
            if aux and aux.group(2) in AUX_LAYERS:
                prefix[layer.name] = f"{aux.group(1)}.{AUX_LAYERS[aux.group(2)]}"
            elif aux:
                problems.append(Problem(None, layer.name, None, None, "aux-head layer with no counterpart in "
                                        "torchvision's InceptionAux (conv1, dense1, dense2)"))
            elif bc:
                torch_branch = {v: k for k, v in BRANCHES.items()}[bc[1]]
                prefix[layer.name] = f"inception{bc[0]}.{torch_branch}"
            elif isinstance(layer, keras.layers.Conv2D):
                stem.append(layer)
            else:
                mains.append(layer)
        elif layer.weights and not isinstance(layer, keras.layers.BatchNormalization):
            problems.append(Problem(None, layer.name, None, None, f"{type(layer).__name__} has weights "
                                    "torchvision's googlenet has no counterpart for"))
    if len(stem) != len(STEM):
        problems.append(Problem(None, "", None, None, f"torchvision's googlenet has {len(STEM)} convolutions before "
                                f"inception3a; the model has {len(stem)} ({', '.join(s.name for s in stem)})"))
    # a count that differs is a problem above
    prefix.update({layer.name: t for layer, t in zip(stem, STEM, strict=False)})
    if len(mains) != 1:
        names = ", ".join(m.name for m in mains)
        problems.append(Problem(None, "", None, None, "torchvision's googlenet has one classifier (fc); the model "
                                f"has {len(mains)} Dense layers outside aux heads ({names})"))
    else:
        prefix[mains[0].name] = "fc"
    return prefix, problems


def _plan(layers_, flatten_order: str):
    """{torch key: (keras variable, converter)} for every weight of the model, or ConfigError."""
    import keras

    prefix, problems = _prefixes(layers_)
    by_name = {layer.name: layer for layer in layers_}
    plan = {}
    for layer in layers_:
        if isinstance(layer, keras.layers.BatchNormalization):
            owner = layer.name[:-3] if layer.name.endswith(".bn") else None
            if owner not in prefix or not isinstance(by_name.get(owner), keras.layers.Conv2D):
                problems.append(Problem(None, layer.name, None, None, "BatchNormalization not named <conv>.bn"))
                continue
            for v in layer.weights:
                leaf = v.path.rsplit("/", 1)[-1]
                plan[f"{prefix[owner]}.bn.{_BN_KEYS[leaf]}"] = (v, None)
        elif layer.name in prefix:
            conv = isinstance(layer, keras.layers.Conv2D)
            torch_p = f"{prefix[layer.name]}.conv" if conv else prefix[layer.name]
            perm = None
            aux = _AUX.match(layer.name)
            if aux and aux.group(2) == "dense1":
                aux_conv = by_name.get(f"{aux.group(1)}.conv1")
                if aux_conv is None:
                    problems.append(Problem(None, layer.name, None, None, f"no {aux.group(1)}.conv1 before it"))
                else:
                    perm = _flatten_permutation(layers_, aux.group(1), aux_conv, flatten_order)
            for v in layer.weights:
                leaf = v.path.rsplit("/", 1)[-1]
                how = ("conv" if conv else "dense", perm) if leaf == "kernel" else None
                plan[f"{torch_p}.{'weight' if leaf == 'kernel' else leaf}"] = (v, how)
    return plan, problems


def _convert(array: np.ndarray, how) -> np.ndarray:
    if how is None:
        return array
    kind, perm = how
    if kind == "conv":
        return array.transpose(2, 3, 1, 0) if array.ndim == 4 else array
    out = array.T if array.ndim == 2 else array
    return out[perm] if perm is not None and out.ndim == 2 and out.shape[0] == perm.size else out


def torchvision_to_keras(state: dict, model_or_models, flatten_order: str = "auto", source: str | None = None):
    """Set the model's weights from a torchvision googlenet state dict; return an `ImportReport`.

    `model_or_models`: a keras.Model, a builder.Models or a list of models sharing layers. Raises
    ConfigError, naming each key, for a missing key, an unused key or a mis-shaped tensor; nothing is
    assigned unless everything maps. Aux-head keys (`aux1.*`) are skipped, and reported, when the model
    has no such head. `flatten_order`: "auto" (read off the model), "channels_last" or "channels_first"
    (how the Keras aux head orders its flattened map; see the module docstring).
    """
    layers_ = _layers(model_or_models)
    plan, problems = _plan(layers_, flatten_order)
    heads = {m.group(1) for m in (_AUX.match(layer.name) for layer in layers_) if m}
    report = ImportReport()
    values = {}
    for key in state:
        if key.endswith("num_batches_tracked"):
            report.ignored.append(key)
        elif key in plan:
            v, how = plan[key]
            a = _convert(np.asarray(state[key]), how)
            if tuple(a.shape) != tuple(v.shape):
                problems.append(Problem(source, key, None, None, f"shape {tuple(np.shape(state[key]))} does not fit "
                                        f"{v.path} {tuple(v.shape)} (torchvision layout {_torch_shape(how, v.shape)})"))
            else:
                values[key] = a
        elif key.split(".", 1)[0] not in heads and re.match(r"^aux\d+\.", key):
            report.skipped.append((key, "the architecture has no such aux head"))
        else:
            problems.append(Problem(source, key, None, None, "unused: no layer of the model takes it"))
    for key, (v, _) in plan.items():
        if key not in state:
            problems.append(Problem(source, key, None, None, f"missing: {v.path} {tuple(v.shape)} needs it"))
    if problems:
        raise ConfigError(problems)
    for key, a in values.items():
        v = plan[key][0]
        with np.errstate(over="ignore"):  # an overflow to inf is refused by imported.check_weights
            v.assign(np.asarray(a, dtype=v.dtype))
        report.mapped.append((key, v.path))
    import keras

    eps = {round(float(layer.epsilon), 9) for layer in layers_ if isinstance(layer, keras.layers.BatchNormalization)}
    if eps and eps != {0.001}:
        report.notes.append(f"note: BatchNormalization epsilon {sorted(eps)}; torchvision's googlenet uses 0.001")
    return report


def _torch_shape(how, keras_shape) -> tuple:
    s = tuple(int(d) for d in keras_shape)
    if how and how[0] == "conv" and len(s) == 4:
        return (s[3], s[2], s[0], s[1])
    if how and how[0] == "dense" and len(s) == 2:
        return (s[1], s[0])
    return s


def import_torchvision(state_dict_path: str, arch_path: str, out_path: str, input_shape=None,
                       flatten_order: str = "auto", sets=None):
    """Build `arch_path` (at `input_shape` [h, w, c] if given, with `sets` [(dotted key, value)] applied), load
    torchvision's state dict into it and write `.weights.h5` (every weight of the training model: the aux heads'
    too when the architecture declares them; load with `build_model(spec, aux=True).load_weights`) or `.keras`
    (the inference model, as a run's model.keras: what `predict`, `evaluate` and `export` take). Returns the
    `ImportReport`."""
    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_models

    out = check_output(out_path)
    sets = list(sets or []) + ([("input", [int(d) for d in input_shape])] if input_shape else [])
    spec = load_arch(arch_path, sets=sets or None)
    state = load_state_dict(state_dict_path)
    models = build_models(spec)
    try:
        report = torchvision_to_keras(state, models, flatten_order=flatten_order, source=os.fspath(state_dict_path))
    except ConfigError as e:
        heads = [h.name for h in spec.aux_heads]
        missing = [p.path for p in e.problems if p.message.startswith("missing:")]
        if heads and missing and all(_AUX.match(k) for k in missing) and not any(_AUX.match(k) for k in state):
            hint = Problem(os.fspath(state_dict_path), "", None, None, f"the state dict has no aux-head keys "
                           f"(torchvision's googlenet(aux_logits=False)), but {spec.source} declares the aux heads "
                           f"{', '.join(heads)}: drop them with --set aux_heads=null")
            raise ConfigError([*e.problems, hint]) from None
        raise
    write_model(out, models.inference, models.train, source=os.fspath(state_dict_path))
    heads = [h.name for h in spec.aux_heads]
    what = ("the inference model" + (f" (the imported aux heads {', '.join(heads)} are training-only and not in it; "
                                      "write .weights.h5 to keep them)" if heads else "")
            if is_whole_model(out) else
            "the weights of the training model" + (f" with its aux heads {', '.join(heads)}" if heads else ""))
    norm = normalize_note(spec, "torchvision's pretrained weights expect arch/googlenet_bn_imagenet.yaml's")
    report.notes.append(f"wrote {out}: {what} of {spec.name} at input {'x'.join(map(str, spec.input))}{norm}")
    return report


# ----------------------------------------------------------------------------- gluon (the d2l seed)


def declaration_order(model_or_models) -> list:
    """Conv2D and Dense layers in the order a gluon/PyTorch definition declares them: model order, but each
    Inception block's convs as 1x1, 3x3_reduce, 3x3, 5x5_reduce, 5x5, pool_proj (the seed's p1, p2_1,
    p2_2, p3_1, p3_2, p4_2; Keras' topological order puts the reduces first)."""
    import keras

    layers_ = _layers(model_or_models)
    blocks = {layer.name for layer in layers_ if isinstance(layer, keras.layers.Concatenate)}
    groups, index = [], {}
    for layer in layers_:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            continue
        bc = _block_conv(layer.name, blocks)
        if bc is None:
            groups.append([(0, layer)])
            continue
        if bc[0] not in index:
            index[bc[0]] = len(groups)
            groups.append([])
        groups[index[bc[0]]].append((BRANCH_ORDER.index(bc[1]), layer))
    return [layer for g in groups for _, layer in sorted(g, key=lambda t: t[0])]


def gluon_to_keras(arrays, model_or_models, names=None) -> list:
    """Set Conv2D/Dense weights from a gluon net's parameters in `net.collect_params()` order (weight,
    bias per layer; conv OIHW, dense (out, in)), matched to `declaration_order`. No BatchNorm (the seed
    has none). Returns [(name, keras variable path)]. ConfigError names a mis-shaped or surplus one."""
    layers_ = declaration_order(model_or_models)
    names = list(names) if names is not None else [f"param{i:03d}" for i in range(len(arrays))]
    targets = [(v, layer) for layer in layers_ for v in layer.weights]
    problems = []
    if len(targets) != len(arrays):
        problems.append(Problem(None, "", None, None, f"{len(arrays)} gluon parameters for "
                                f"{len(targets)} Keras weights"))
    pairs = []
    for name, original, (v, _) in zip(names, arrays, targets, strict=False):  # counts checked above
        a = np.asarray(original)
        how = None
        if v.path.rsplit("/", 1)[-1] == "kernel":
            how = ("conv" if len(v.shape) == 4 else "dense", None)
            a = a.transpose(2, 3, 1, 0) if a.ndim == 4 else a.T
        if tuple(a.shape) != tuple(v.shape):
            problems.append(Problem(None, name, None, None, f"shape {np.shape(original)} does not fit {v.path} "
                                    f"{tuple(v.shape)} (gluon layout {_torch_shape(how, v.shape)})"))
        pairs.append((name, v, a))
    if problems:
        raise ConfigError(problems)
    for _, v, a in pairs:
        v.assign(a.astype("float32"))
    return [(name, v.path) for name, v, _ in pairs]

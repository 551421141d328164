"""TF-Slim checkpoints (tf_slim.nets.inception_v1/v2/v3, Slim's published ImageNet checkpoints) onto networks
built from architecture YAML.

Reading: TensorFlow's own checkpoint reader (`tf.train.load_checkpoint`), on the prefix `model.ckpt`, its
`.index` file, or a folder holding one checkpoint (its `checkpoint` file, else the single `*.index`). The files
must be regular files within the weights' size bound (safeio.LIMITS["weights"]).

Pairing, by order and shape, never by our names: Slim names every layer by its place in the network
(`InceptionV2/Mixed_4b/Branch_1/Conv2d_0b_3x3`: module 4b, branch 1, step 0b), so its layer scopes sorted by those
codes (a scope's `<digit><letter>` code, `Branch_<n>`, then the name; `Logits` last) are the order in which
Slim creates them, which is the order our model computes them in (weights.structural.flow_order: a
concatenation's first branch first). Each weighted layer of ours (Conv2D, SeparableConv2D, Dense, with the
BatchNormalization that follows it) takes the next Slim scope, whose tensors must have its shapes: a kernel
HWIO as Keras keeps it (a 1x1 conv onto a Dense layer's (in, out)), `biases`, and `BatchNorm/beta`, `gamma`,
`moving_mean`, `moving_variance`. Every tensor is accounted for: one of the wrong shape, a weight of ours no
tensor gives, or a tensor nothing takes is one Problem; all raised together as one ConfigError, nothing
assigned. `global_step` is ignored; `AuxLogits/*` is ignored and reported when the network has no aux head.
The proof is numerical: tests/weights/test_family_slim.py compares logits with Slim's own graph.
"""
from __future__ import annotations

import os
import re

import numpy as np

from inception_keras import safeio
from inception_keras.errors import ConfigError, Problem

_CODE = re.compile(r"(\d+)([a-z])(?:_|$)")
_BRANCH = re.compile(r"^Branch_(\d+)$")
_KERNELS = ("weights", "depthwise_weights", "pointwise_weights")
_IGNORED = {"global_step"}


def _problem(source, path, message) -> Problem:
    return Problem(source, path, None, None, message)


def checkpoint_prefix(path: str) -> str:
    """The checkpoint prefix of `path` (a prefix, its .index, or a folder); ConfigError when there is none or a
    file is not a regular file within the size bound."""
    path = os.fspath(path)
    if os.path.isdir(path):
        found = sorted(f[:-len(".index")] for f in os.listdir(path) if f.endswith(".index")) or \
            sorted(f for f in os.listdir(path) if f.endswith(".ckpt"))
        if len(found) != 1:
            raise ConfigError([_problem(path, "", f"a folder with {len(found)} checkpoints (*.index, *.ckpt); "
                                                  "give the checkpoint's prefix (model.ckpt)")])
        path = os.path.join(path, found[0])
    if path.endswith(".index"):
        path = path[:-len(".index")]
    elif os.path.lexists(path) and not os.path.isdir(path) and not os.path.lexists(path + ".index"):
        _check_files(path, [os.path.basename(path)])  # a V1 checkpoint: one file (Slim's 2016 tarballs)
        return path
    folder, base = os.path.split(path)
    folder = folder or "."
    if not os.path.isfile(path + ".index"):
        raise ConfigError([_problem(path, "", "no TensorFlow checkpoint here (no .index file)")])
    _check_files(path, [base + ".index", *(f for f in os.listdir(folder) if f.startswith(base + ".data-"))])
    return path


def _check_files(path: str, names) -> None:
    """Each of `names` (beside `path`) a regular file, not a link; together within the weights' size bound."""
    folder, total = os.path.dirname(path) or ".", 0
    for f in names:
        full = os.path.join(folder, f)
        if os.path.islink(full) or not os.path.isfile(full):
            raise ConfigError([_problem(full, "", "not a regular file (a link or a special file)")])
        total += os.path.getsize(full)
    if total > safeio.LIMITS["weights"]:
        raise ConfigError([_problem(path, "", f"{total:,} bytes: larger than the weights' bound "
                                              f"({safeio.LIMITS['weights']:,})")])


def read_checkpoint(path: str) -> dict:
    """{variable name: array} of the TF checkpoint at `path`, read with TensorFlow's checkpoint reader."""
    import tensorflow as tf

    prefix = checkpoint_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
        names = sorted(reader.get_variable_to_shape_map())
        return {n: np.asarray(reader.get_tensor(n)) for n in names}
    except (tf.errors.OpError, ValueError) as e:
        raise ConfigError([_problem(prefix, "", f"TensorFlow cannot read this checkpoint: "
                                                f"{str(e).splitlines()[0][:300]}")]) from None


def _scope_leaf(name: str) -> tuple[str, str]:
    scope, _, leaf = name.rpartition("/")
    if scope.endswith("/BatchNorm"):
        return scope[:-len("/BatchNorm")], leaf
    return scope, leaf


def _order_key(scope: str) -> tuple:
    """Slim's creation order of a layer scope: per component, (its branch number or code, the name)."""
    key = []
    for part in scope.split("/")[1:]:  # the first is the network (InceptionV2)
        branch, codes = _BRANCH.match(part), _CODE.findall(part)
        if part == "Logits":
            key.append((1, 0, "", part))
        elif branch:
            key.append((0, int(branch.group(1)), "", part))
        elif codes:
            key.append((0, int(codes[-1][0]), codes[-1][1], part))
        else:
            key.append((0, 0, "", part))
    return tuple(key)


def slim_scopes(variables: dict) -> tuple[list, list, list]:
    """([(scope, {leaf: name})] of the main network in Slim's order, [aux names], [ignored names])."""
    scopes, aux, ignored = {}, [], []
    for name in variables:
        if name in _IGNORED or name.endswith("/ExponentialMovingAverage"):
            ignored.append(name)
            continue
        if "/AuxLogits/" in f"/{name}":
            aux.append(name)
            continue
        scope, leaf = _scope_leaf(name)
        scopes.setdefault(scope, {})[leaf] = name
    return sorted(scopes.items(), key=lambda kv: _order_key(kv[0])), aux, ignored


def our_units(model) -> list:
    """[[layer, (its BatchNormalization)]] of `model`'s weighted layers in data-flow order."""
    import keras

    from inception_keras.weights.structural import flow_order

    units = []
    for _, layers_ in flow_order(model)[:1]:
        for layer in layers_:
            if not layer.weights:
                continue
            if isinstance(layer, keras.layers.BatchNormalization) and units and len(units[-1]) == 1 \
                    and layer.input is units[-1][0].output:  # the BatchNorm of the layer before it
                units[-1].append(layer)
            else:
                units.append([layer])
    return units


_LEAVES = {"kernel": "weights", "depthwise_kernel": "depthwise_weights", "pointwise_kernel": "pointwise_weights",
           "bias": "biases", "gamma": "gamma", "beta": "beta", "moving_mean": "moving_mean",
           "moving_variance": "moving_variance"}


def _pair(unit, scope, leaves, variables, source, problems) -> list:
    """[(keras variable, array)] for one unit and one Slim scope; problems appended for what does not fit."""
    out, used = [], set()
    for layer in unit:
        for v in layer.weights:
            leaf = _LEAVES.get(v.path.rsplit("/", 1)[-1])
            name = leaves.get(leaf) if leaf else None
            if name is None:
                problems.append(_problem(source, scope, f"missing: no '{leaf}' in this scope for {v.path} "
                                                        f"({'x'.join(map(str, v.shape))})"))
                continue
            used.add(name)
            a = variables[name]
            if len(v.shape) == 2 and a.ndim == 4 and a.shape[:2] == (1, 1):  # a 1x1 conv onto a Dense layer
                a = a.reshape(a.shape[2:])
            if tuple(a.shape) != tuple(v.shape):
                problems.append(_problem(source, name, f"mis-shaped: {'x'.join(map(str, a.shape))} for {v.path} "
                                                       f"({'x'.join(map(str, v.shape))})"))
                continue
            out.append((v, a))
    problems += [_problem(source, n, f"unused: {unit[0].name}, paired with this scope, takes no such "
                                         "tensor")
                 for n in leaves.values() if n not in used]
    return out


def checkpoint_to_keras(variables: dict, model, source: str | None = None) -> tuple[int, list, list]:
    """Assign `variables` (read_checkpoint's) onto `model` by Slim's order; (tensors assigned, aux names skipped,
    ignored names). ConfigError listing every problem; nothing assigned unless everything maps."""
    scopes, aux, ignored = slim_scopes(variables)
    units = our_units(model)
    problems, assignments = [], []
    for unit, (scope, leaves) in zip(units, scopes):
        assignments += _pair(unit, scope, leaves, variables, source, problems)
    for unit in units[len(scopes):]:
        problems.append(_problem(source, unit[0].name, "missing: the checkpoint has no layer left for this one "
                                                       f"({len(scopes)} layer scopes for {len(units)} layers)"))
    for _scope, leaves in scopes[len(units):]:
        problems += [_problem(source, n, f"unused: the network has no layer left for it ({len(units)} layers for "
                                         f"{len(scopes)} scopes)") for n in leaves.values()]
    if problems:
        raise ConfigError(problems)
    for v, a in assignments:
        v.assign(a.astype(v.dtype))
    return len(assignments), aux, ignored


def import_slim(checkpoint: str, arch_path: str, out_path: str, input_shape=None, sets=None) -> str:
    """Build `arch_path` (with `sets`, at `input_shape`), assign a TF-Slim checkpoint onto it and write
    `.weights.h5` or `.keras` by the one rule for outputs (weights.imported.write_model). Returns the report."""
    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_model
    from inception_keras.weights.imported import check_output, normalize_note, write_model

    out = check_output(out_path)
    variables = read_checkpoint(checkpoint)
    sets = list(sets or []) + ([("input", [int(d) for d in input_shape])] if input_shape else [])
    spec = load_arch(arch_path, sets=sets or None)
    model = build_model(spec)
    n, aux, ignored = checkpoint_to_keras(variables, model, os.fspath(checkpoint))
    write_model(out, model, source=os.fspath(checkpoint))
    lines = [f"assigned {n} tensors from {checkpoint} onto {spec.name} (TF-Slim's order)"]
    if aux:
        lines.append(f"skipped {len(aux)} AuxLogits tensors: the architecture has no aux head")
    if ignored:  # global_step; the moving averages of the weights where training kept them
        more = f" and {len(ignored) - 3} more" if len(ignored) > 3 else ""
        lines.append(f"ignored {', '.join(ignored[:3])}{more}")
    lines.append(f"wrote {out}" + normalize_note(spec, "Slim's networks take [-1, 1] images: 2 * x - 1"))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the published tarballs

MAX_MEMBERS = 64  # Slim's tarballs hold one checkpoint file (inception_v1.ckpt) or a V2 checkpoint's few files


def extract_checkpoint(tarball: str, dest: str, limit: int | None = None) -> str:
    """Extract a Slim checkpoint tarball (inception_v3_2016_08_28.tar.gz) into the folder `dest` and return the
    checkpoint's path (checkpoint_prefix of `dest`). Refused, with one ConfigError naming the member, before
    anything is written: a path that is absolute or climbs out (`..`), a member that is not a regular file or a
    folder (a symbolic or hard link, a device), more than MAX_MEMBERS members, or more than `limit` bytes in all
    (the weights' bound). Files are written whole under a temporary name, never over an existing file."""
    import tarfile

    limit = safeio.LIMITS["weights"] if limit is None else limit
    if os.path.islink(tarball) or not os.path.isfile(tarball):
        raise ConfigError([_problem(tarball, "", "not a regular file")])
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = _checked_members(tar, tarball, limit)
            os.makedirs(dest, exist_ok=True)
            for m in members:
                _extract_one(tar, m, dest)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ConfigError([_problem(tarball, "", f"cannot extract this tarball: {str(e).splitlines()[0][:200]}")]) \
            from None
    return checkpoint_prefix(dest)


def _checked_members(tar, tarball: str, limit: int) -> list:
    """The regular-file members, after checking every member (see extract_checkpoint)."""
    files, total = [], 0
    for i, m in enumerate(tar):
        if i >= MAX_MEMBERS:
            raise ConfigError([_problem(tarball, "", f"more than {MAX_MEMBERS} members: not a checkpoint tarball")])
        name = safeio.shown(m.name)[:200]
        parts = m.name.replace("\\", "/").split("/")
        if m.name.startswith(("/", "\\")) or ".." in parts or (len(m.name) > 1 and m.name[1] == ":"):
            raise ConfigError([_problem(tarball, name, "a member outside the extraction folder (absolute or ..)")])
        if m.isdir():
            continue
        if not m.isfile():
            raise ConfigError([_problem(tarball, name, "a member that is not a regular file (a link or a device)")])
        total += m.size
        if total > limit:
            raise ConfigError([_problem(tarball, name, f"more than {limit:,} bytes uncompressed: refused")])
        files.append(m)
    return files


def _extract_one(tar, member, dest: str) -> None:
    """One checked member, streamed to a temporary name in its folder and renamed; never over a file."""
    target = os.path.join(dest, *[p for p in member.name.replace("\\", "/").split("/") if p not in ("", ".")])
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    root, real = os.path.realpath(dest), os.path.realpath(folder)
    if real != root and not real.startswith(root + os.sep):
        raise ConfigError([_problem(dest, member.name, "a folder on the way is a link: refused")])
    if os.path.lexists(target):
        raise ConfigError([_problem(target, "", "already exists: not extracted over it")])
    tmp = f"{target}.part-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        with os.fdopen(fd, "wb") as out, tar.extractfile(member) as src:
            left = member.size
            while left > 0:
                chunk = src.read(min(left, 1 << 20))
                if not chunk:
                    raise OSError(f"{member.name}: truncated")
                out.write(chunk)
                left -= len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)

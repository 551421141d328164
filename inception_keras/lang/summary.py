"""The `summary` table: each stage's (or block's) output shape, parameters and multiply-adds."""
from __future__ import annotations

import math
import os

from inception_keras.lang.arch import ArchSpec, Row
from inception_keras.lang.freeze import declared_frozen, frozen_params


def _shape(shape: tuple) -> str:
    return "x".join(map(str, shape))


def _macs(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.3f} G"
    if n >= 1e6:
        return f"{n / 1e6:.1f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} K"
    return str(n)


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def activation_bytes(spec: ArchSpec, batch: int = 1) -> int:
    """float32 bytes of every layer's and block's output for `batch` images: what the forward pass keeps for the
    gradient (a lower bound: an Inception block's branches count as its concatenated output)."""
    return sum(math.prod(r.shape) for r in spec.rows) * 4 * batch


def training_memory(spec: ArchSpec, batch: int) -> int:
    """A lower bound of the memory one training step of `batch` images needs: the activations and their gradients,
    and the weights with their gradients and two optimizer moments (float32)."""
    return 2 * activation_bytes(spec, batch) + 4 * spec.params_with_aux * 4


def memory_problem(spec: ArchSpec, batch: int) -> str | None:
    """What to say when a training step of `batch` images needs more than this machine's memory (None: it fits
    or the memory is unknown); the numbers are in the message."""
    need, memory = training_memory(spec, batch), physical_memory()
    if not memory or need <= memory:
        return None
    return (f"training {spec.name} at input {_shape(spec.input)} with batches of {batch} needs at least "
            f"{need / 2 ** 30:,.1f} GiB ({activation_bytes(spec) / 2 ** 20:,.1f} MiB of activations per image), more "
            f"than this machine's {memory / 2 ** 30:,.1f} GiB of memory: lower batch_size or the input size")


def stage_table(spec: ArchSpec, blocks: bool = False) -> list[tuple[str, str, str, str, bool]]:
    """Rows (name, output, params, mult-adds, aux): one per stage (or aux head), and with `blocks`
    one more per layer or Inception block."""
    out = []
    groups: dict[str, list[Row]] = {}
    for r in spec.rows:
        groups.setdefault(r.stage, []).append(r)
    for stage, rows in groups.items():
        params = sum(r.params + r.nontrainable for r in rows)
        macs = sum(r.macs for r in rows)
        out.append((stage, _shape(rows[-1].shape), f"{params:,}", _macs(macs), rows[0].aux))
        if blocks:
            out += [("  " + r.name, _shape(r.shape), f"{r.params + r.nontrainable:,}", _macs(r.macs), r.aux)
                    for r in rows]
    return out


def _numbers(values) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def render(spec: ArchSpec, blocks: bool = False) -> str:
    table = stage_table(spec, blocks)
    header = ("stage" if not blocks else "stage / layer", "output", "params", "mult-adds")
    width = [max(len(header[i]), *(len(t[i]) for t in table)) for i in range(4)]

    def line(cells):
        return (f"{cells[0]:<{width[0]}}  {cells[1]:<{width[1]}}  {cells[2]:>{width[2]}}  "
                f"{cells[3]:>{width[3]}}").rstrip()

    text = [f"{spec.name} ({spec.source}): input {_shape(spec.input)}, {_classes(spec)}", line(header)]
    if spec.normalize is not None:
        mean, std = spec.normalize.per_channel(spec.input[2])
        text.insert(1, f"input normalized: (x - {_numbers(mean)}) / {_numbers(std)} on [0, 1] images")
    text += [line(t) for t in table if not t[4]]
    nontrain = sum(r.nontrainable for r in spec.rows if not r.aux)
    text.append(f"total: {spec.params:,} parameters"
                + (f" ({spec.trainable_params:,} trainable, {nontrain:,} non-trainable)" if nontrain else "")
                + f", {spec.macs / 1e9:.3f} G multiply-adds per image")
    frozen = declared_frozen(spec)
    if frozen:
        n = frozen_params(spec, frozen)
        text.append(f"frozen (trainable: false): {', '.join(frozen)}: {n:,} parameters; "
                    f"{spec.trainable_params - n:,} trainable in training")
    if spec.aux_heads:
        text += ["", "auxiliary heads (training only; not in the inference model):"]
        text += [f"  {h.name}: after {h.after}, loss weight {h.loss_weight:g}" for h in spec.aux_heads]
        text += [line(t) for t in table if t[4]]
        nontrain_all = sum(r.nontrainable for r in spec.rows)
        trainable_all = sum(r.params for r in spec.rows)
        text.append(f"total with auxiliary heads: {spec.params_with_aux:,} parameters"
                    + (f" ({trainable_all:,} trainable, {nontrain_all:,} non-trainable)" if nontrain_all else ""))
    if spec.adaptations:
        text += ["", "adapted to this input size:"] + [f"  {note}" for note in spec.adaptations]
    weights, memory = spec.params_with_aux * 4, physical_memory()
    if memory and weights > memory:
        text += ["", f"note: {spec.params_with_aux:,} parameters are {weights / 2 ** 30:,.1f} GiB of float32 weights: "
                     f"more than this machine's {memory / 2 ** 30:,.1f} GiB of memory (training needs several times "
                     f"the weights)"]
    problem = memory_problem(spec, 1)
    if problem:
        text += ["", f"note: {problem}"]
    return "\n".join(text)


def _classes(spec) -> str:
    return "a backbone (no classifier head)" if spec.classes is None else f"{spec.classes} classes"

"""Frozen parts of a network: stage, block and layer names of the recipe's `freeze` and `phases`, checked against
the architecture and turned into the Keras layer names they cover (no TensorFlow here).

A stage covers its layers; a block (an Inception block `3a`) covers the Keras layers it builds (`3a.1x1`,
`3a.pool_proj`, ...); a layer covers itself and what it builds (`b1.conv1.bn`).
"""
from __future__ import annotations

import dataclasses

from inception_keras.errors import ConfigError
from inception_keras.lang.arch import ArchSpec
from inception_keras.lang.checks import did_you_mean
from inception_keras.lang.kinds import Layer


def part_names(spec: ArchSpec) -> dict[str, tuple[str, ...]]:
    """{stage, block or layer name: the spec layer names it covers}, in the network's order."""
    parts: dict[str, tuple[str, ...]] = {}
    for stage in spec.stages:
        parts[stage.name] = tuple(layer.name for layer in stage.layers)
        for layer in stage.layers:
            parts.setdefault(layer.name, (layer.name,))
    return parts


def frozen_prefixes(spec: ArchSpec, names) -> tuple[str, ...]:
    """The spec layer names the given stages, blocks or layers cover, and those the architecture declares
    `trainable: false`; ConfigError naming an unknown one."""
    parts = part_names(spec)
    unknown = [n for n in names if n not in parts]
    if unknown:
        stages = ", ".join(s.name for s in spec.stages)
        raise ConfigError("\n".join(f"freeze: no stage, block or layer '{n}' in {spec.name}"
                                     f"{did_you_mean(n, parts)} (stages: {stages})" for n in unknown))
    return tuple(dict.fromkeys([p for n in names for p in parts[n]] + list(declared_frozen(spec))))


def declared_frozen(spec: ArchSpec) -> tuple[str, ...]:
    """The layer and block names the architecture declares `trainable: false` (inside blocks' branches too, and
    in auxiliary heads): frozen whatever the recipe says."""
    out: list[str] = []

    def visit(value):
        if isinstance(value, Layer):
            if not value.trainable:
                out.append(value.name)
            for f in dataclasses.fields(value):
                visit(getattr(value, f.name))
        elif isinstance(value, (tuple, list)):
            for v in value:
                visit(v)

    visit([layer for stage in spec.stages for layer in stage.layers] + [h.layers for h in spec.aux_heads])
    return tuple(out)


def is_frozen(layer_name: str, prefixes) -> bool:
    """Whether a Keras layer belongs to one of the frozen spec layers (its name, or its name and a dot)."""
    return any(layer_name == p or layer_name.startswith(p + ".") for p in prefixes)


def frozen_params(spec: ArchSpec, prefixes) -> int:
    """The trainable parameters of the summary's rows (layers and blocks) that `prefixes` freeze."""
    return sum(r.params for r in spec.rows if is_frozen(r.name, prefixes))


def check_freezing(spec: ArchSpec, recipe) -> None:
    """Every name in the recipe's `freeze` and in its phases names a part of this network."""
    frozen_prefixes(spec, list(recipe.freeze) + [n for phase in recipe.phases for n in phase.freeze])

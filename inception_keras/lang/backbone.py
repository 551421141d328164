"""A classifier's backbone: the network without its head (keras.applications' `include_top=False`).

The head is what follows the last feature map: the trailing dense, dropout and flatten layers and the pool that
feeds them (global_avgpool, an adaptive or `adapt` pool). `backbone` drops them (and the auxiliary heads, which
only training uses) and walks the rest again as a network without `classes`, so its rows, shapes and parameters
are the backbone's own.
"""
from __future__ import annotations

from dataclasses import replace

from inception_keras.errors import ConfigError
from inception_keras.lang.arch import ArchSpec, Stage
from inception_keras.lang.compose import load_arch_document
from inception_keras.lang.parse import parse_arch
from inception_keras.lang.walk import analyze

HEAD_KINDS = frozenset({"dense", "dropout", "flatten", "global_avgpool", "global_maxpool", "adaptive_avgpool",
                        "avgpool", "maxpool"})


def load_backbone(path, sets=None) -> ArchSpec:
    """The backbone of the architecture at `path` (a file or a shipped name), `--set` overrides applied."""
    doc = load_arch_document(path, None, sets)
    return backbone(parse_arch(doc), doc)


def backbone(spec: ArchSpec, doc) -> ArchSpec:
    """`spec` without its head: the trailing head layers of its last stages dropped (empty stages too)."""
    stages = [list(s.layers) for s in spec.stages]
    config = {name: list(items) for name, items in spec.config["stages"].items()}
    while stages and (not stages[-1] or stages[-1][-1].KIND in HEAD_KINDS):
        if stages[-1]:
            stages[-1].pop()
            config[spec.stages[len(stages) - 1].name].pop()
        else:
            config.pop(spec.stages[len(stages) - 1].name)
            stages.pop()
    if not stages:
        raise ConfigError(f"{spec.source}: {spec.name} has no layers before its head: no backbone to build")
    kept = tuple(Stage(s.name, tuple(layers)) for s, layers in zip(spec.stages, stages))
    conf = {**spec.config, "classes": None, "stages": config}
    conf.pop("aux_heads", None)
    return analyze(replace(spec, stages=kept, classes=None, aux_heads=(), config=conf, rows=()), doc)

"""The one configuration resolver: an architecture and a recipe -> the checked `ArchSpec`, `Recipe` and the resolved
configuration that config.yaml holds. No TensorFlow.

`train`, `config`, `show`, `bench`, `sweep` and `search` resolve two files with `--set`s and flags; resuming a run
and the model loaders resolve a run's own config.yaml (its `arch` and `recipe` parts, as
`runs.config_documents` reads them, so mistakes name config.yaml's lines). Both go through `resolve`: the same
overrides, the recipe's `initializer` as the architecture's default, the same checks (freezing names a part of the
network).
"""
from __future__ import annotations

from typing import NamedTuple

from inception_keras.lang import catalog
from inception_keras.lang.arch import ArchSpec
from inception_keras.lang.compose import load_arch_document
from inception_keras.lang.freeze import check_freezing
from inception_keras.lang.overrides import apply, load, parse_sets, set_text
from inception_keras.lang.parse import parse_arch
from inception_keras.lang.reader import Document
from inception_keras.lang.recipe import Recipe, parse_recipe


class Resolved(NamedTuple):
    """A resolved configuration: the architecture, the recipe, and {"arch": ..., "recipe": ...} as config.yaml
    holds them."""

    spec: ArchSpec
    recipe: Recipe
    config: dict


def overrides(sets=(), limit=None, data_dir=None, strategy=None) -> tuple[list, list]:
    """(architecture overrides, recipe overrides) from `KEY=VALUE` strings (`arch.` prefixes an architecture key)
    and the flags that set recipe keys; every item cites the `--set` or flag that gave it."""
    pairs = parse_sets(list(sets))
    arch_sets = [(k[len("arch."):], v, f"--set {k}={set_text(v)}") for k, v in pairs if k.startswith("arch.")]
    recipe_sets = [(k, v) for k, v in pairs if not k.startswith("arch.")]
    for key, value, flag in (("dataset.limit", limit, "--limit"), ("dataset.path", data_dir, "--data-dir"),
                             ("strategy", strategy, "--strategy")):
        if value is not None:
            recipe_sets.append((key, value, f"{flag} {value}"))
    return arch_sets, recipe_sets


def resolve(arch: str | Document, recipe: str | Document, sets=(), limit=None, data_dir=None,
            strategy=None) -> Resolved:
    """Resolve an architecture and a recipe, each a file path or an already read Document (a run's config.yaml
    part), with the `--set`s and the flags `--limit`, `--data-dir`, `--strategy` applied; raises ConfigError
    naming file, line, column and YAML path (or the `--set`) of every mistake."""
    arch_sets, recipe_sets = overrides(sets, limit, data_dir, strategy)
    if isinstance(recipe, Document):
        recipe_doc = apply(recipe, recipe_sets) if recipe_sets else recipe
    else:
        recipe_doc = load(catalog.resolve(recipe, catalog.RECIPE), None, recipe_sets, what="recipe file")
    checked = parse_recipe(recipe_doc)
    if checked.initializer:
        arch_sets.insert(0, ("defaults.initializer", checked.initializer))
    if isinstance(arch, Document):
        arch_doc = apply(arch, arch_sets) if arch_sets else arch
    else:
        arch_doc = load_arch_document(arch, None, arch_sets)
    spec = parse_arch(arch_doc)
    check_freezing(spec, checked)
    return Resolved(spec, checked, {"arch": spec.config, "recipe": checked.to_dict()})

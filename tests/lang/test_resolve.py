"""The one configuration resolver (lang/resolve.py): files with --sets and flags, and a run's config.yaml, resolve
through the same function to the same configuration; it and everything it imports, at any depth, import no
TensorFlow, Keras or argparse; train, config, show, bench, sweep, search and the model loader all call it.
(`inception-keras config` printing exactly the config.yaml `train` writes: tests/cli/test_cli.py.)"""
from __future__ import annotations

import ast
import os

import pytest
from conftest import ROOT, TINY_ARCH, TINY_RECIPE

from inception_keras import runs
from inception_keras.errors import ConfigError
from inception_keras.lang.resolve import Resolved, resolve

PACKAGE = os.path.join(ROOT, "inception_keras")


def files(tmp_path) -> tuple[str, str]:
    arch, recipe = tmp_path / "tiny.yaml", tmp_path / "recipe.yaml"
    arch.write_text(TINY_ARCH)
    recipe.write_text(TINY_RECIPE.replace("DATA", str(tmp_path / "data")) + "initializer: he_normal\n")
    return str(arch), str(recipe)


def test_files_and_the_run_they_wrote_resolve_alike(tmp_path):
    arch, recipe = files(tmp_path)
    new = resolve(arch, recipe, ["epochs=2", "arch.classes=7", "optimizer.learning_rate=0.05"], limit=64,
                  data_dir="/data", strategy="one_device")
    assert isinstance(new, Resolved) and new.spec.classes == 7 and new.recipe.epochs == 2
    assert (new.recipe.dataset.limit, new.recipe.dataset.path, new.recipe.strategy) == (64, "/data", "one_device")
    assert new.config["arch"]["defaults"]["initializer"] == "he_normal"  # the recipe's initializer, as the default
    run = tmp_path / "run"
    run.mkdir()
    runs.write_config(str(run), new.config)
    again = resolve(*runs.config_documents(str(run)))
    assert again.config == runs.read_config(str(run))
    assert again.spec.config == new.spec.config and again.recipe.to_dict() == new.recipe.to_dict()
    assert runs.same_config(again.config, new.config)


def test_overrides_and_flags_are_named_in_mistakes(tmp_path):
    arch, recipe = files(tmp_path)
    with pytest.raises(ConfigError) as info:
        resolve(arch, recipe, ["arch.classes=0"], limit=-1)
    assert str(info.value) == f"{recipe}: dataset.limit: expected an integer > 0, got -1 (from --limit -1)"
    with pytest.raises(ConfigError, match=r"classes: expected an integer > 0, got 0 \(from --set arch\.classes=0\)"):
        resolve(arch, recipe, ["arch.classes=0"])
    with pytest.raises(ConfigError, match="freeze"):
        resolve(arch, recipe, ["freeze=[s9]"])


def module_imports(path: str, at_any_depth: bool = True) -> set[str]:
    """Every module a file imports, relative imports made absolute: at any depth (imports inside functions too),
    or only those importing the file runs."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    if not at_any_depth:
        tree.body = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    package = rel[:-len(".__init__")] if rel.endswith(".__init__") else rel.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return out


def source(module: str) -> str | None:
    path = os.path.join(ROOT, *module.split("."))
    return next((p for p in (path + ".py", os.path.join(path, "__init__.py")) if os.path.isfile(p)), None)


def test_the_resolver_and_all_it_imports_import_no_tensorflow():
    """The resolver, and every module it imports at any depth, imports no TensorFlow: imports inside functions
    count (they run when the function does), except in a package's __init__.py, which is followed as far as
    importing it goes (inception_keras/__init__.py imports Keras only inside `build_model`)."""
    seen, todo, outside = set(), ["inception_keras.lang.resolve"], set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]  # its packages run first
        path = source(module)
        for imported in module_imports(path, at_any_depth=not path.endswith("__init__.py")):
            if imported.startswith("inception_keras"):
                todo += [imported] if source(imported) else []
            else:
                outside.add(imported.split(".")[0])
    modules = seen
    assert {"inception_keras", "inception_keras.lang.parse", "inception_keras.lang.recipe"} <= modules  # reached
    assert not outside & {"tensorflow", "keras", "argparse", "torch", "jax"}, sorted(outside)
    assert not any(m.split(".")[1] in ("nn", "engine", "runs", "data") for m in modules if m.count(".") >= 1)


@pytest.mark.parametrize("module", ["engine.plan", "cli.commands", "engine.bench", "experiments.grid",
                                   "experiments.search", "runs.loader"])
def test_train_config_sweep_search_and_the_loaders_call_the_one_resolver(module):
    imports = module_imports(source(f"inception_keras.{module}"))
    assert "inception_keras.lang.resolve.resolve" in imports


def test_no_other_module_defines_a_resolver():
    """Only lang/resolve.py turns an architecture and a recipe into the pair train needs: no other module parses
    both (runs/config.resolved_config reads each part alone, tolerantly, to compare runs of older versions;
    zoo/listing.py lists the shipped architectures and, apart, the shipped recipes: it pairs none)."""
    both = []
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            imports = module_imports(path)
            arch = {"inception_keras.lang.parse.load_arch", "inception_keras.lang.parse.parse_arch"} & imports
            recipe = {"inception_keras.lang.recipe.load_recipe", "inception_keras.lang.recipe.parse_recipe"} & imports
            if arch and recipe:
                both.append(os.path.relpath(path, PACKAGE))
    assert sorted(both) == ["lang/resolve.py", "runs/config.py", "zoo/listing.py"]

"""The house's rules, as code (docs/architecture.md): packages along the data's flow with one-way imports
(import-linter's contracts in pyproject.toml), no import cycle between modules, no module reaching for another's
private names, argparse in cli/ only, no module over 400 lines or function over 50, and the packages that must
start without TensorFlow start without it."""
from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys

import pytest
from conftest import ROOT

PACKAGE = os.path.join(ROOT, "inception_keras")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
TENSORFLOW_FREE = ("lang", "runs", "compare")


def modules() -> dict[str, str]:
    """Every module of the package: dotted name -> file."""
    out = {}
    for folder, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return out


MODULES = modules()


def imports(name: str, path: str) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import in the file, at any depth (imports inside
    functions count: they are the same dependency, taken later)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            out.append((base, [a.name for a in node.names], node.lineno))
    return out


def edges() -> dict[str, set[str]]:
    """Module -> the project's modules it imports (`from pkg import mod` counts as importing pkg.mod)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for module, names, _ in imports(name, path):
            if module not in MODULES:
                continue
            subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
            graph[name] |= set(subs) if subs and len(subs) == len(names) else {module, *subs}
    return graph


def test_the_import_contract_holds(capsys):
    """import-linter's layers and forbidden contracts (pyproject.toml [tool.importlinter]), as `lint-imports` runs
    them, in this process (no TensorFlow, no process, no cache written): the fast tier checks the contract. The use
    case itself, not the command's `lint_imports`, which reconfigures logging (closing the handlers other libraries
    installed) and puts the working directory on sys.path."""
    import importlinter.cli  # noqa: F401 - configures import-linter's adapters, as the command does
    from importlinter.application.use_cases import lint_imports

    kept = lint_imports(config_filename=os.path.join(ROOT, "pyproject.toml"), cache_dir=None, no_logo=True)
    out = capsys.readouterr().out
    assert kept, out
    assert "0 broken" in out


def test_no_import_cycle_between_modules():
    graph = edges()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_no_module_takes_another_modules_private_names():
    found = []
    for name, path in MODULES.items():
        tree = ast.parse(open(path, encoding="utf-8").read())
        aliases = {}
        for module, names, line in imports(name, path):
            if not module.startswith("inception_keras"):
                continue
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    found.append(f"{name}:{line} from {module} import {n}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("inception_keras"):
                for a in node.names:
                    if f"{node.module}.{a.name}" in MODULES:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("inception_keras") and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{name}:{node.lineno} {aliases[node.value.id]}.{node.attr}")
    assert found == []


def test_only_cli_knows_argparse():
    """Library functions take typed arguments: no module outside cli/ imports argparse or takes `args`."""
    found = []
    for name, path in MODULES.items():
        if name.startswith("inception_keras.cli"):
            continue
        found += [f"{name}:{line} imports argparse" for module, _, line in imports(name, path)
                  if module == "argparse"]
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.FunctionDef) and any(a.arg == "args" for a in node.args.args):
                found.append(f"{name}:{node.lineno} {node.name}(args)")
    assert found == []


def test_modules_and_functions_stay_small():
    found = []
    for name, path in MODULES.items():
        text = open(path, encoding="utf-8").read()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    assert found == []


def test_every_package_says_what_it_owns_and_must_not_import():
    for info in pkgutil.iter_modules([PACKAGE]):
        if info.ispkg:
            doc = ast.get_docstring(ast.parse(open(os.path.join(PACKAGE, info.name, "__init__.py")).read()))
            assert doc and ("never" in doc.lower() or "only" in doc.lower()), info.name


@pytest.mark.parametrize("package", TENSORFLOW_FREE)
@pytest.mark.e2e
def test_package_imports_without_tensorflow(package):
    code = ("import importlib, pkgutil, sys\n"
            f"import inception_keras.{package} as p\n"
            "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.'):\n"
            "    importlib.import_module(m.name)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'jax', 'torch'}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"

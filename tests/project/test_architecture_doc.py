"""docs/architecture.md describes the package as it is: a row for every module and package of inception_keras/ and
none for one that does not exist, every contract of pyproject.toml by its name, every package in the layers, the
size limits the tests hold; and no document names a module path that does not exist."""
from __future__ import annotations

import glob
import os
import re
import tomllib

from conftest import ROOT
from test_architecture import MAX_FUNCTION_LINES, MAX_MODULE_LINES

PACKAGE = os.path.join(ROOT, "inception_keras")
DOC = os.path.join(ROOT, "docs", "architecture.md")
# top-level modules outside the layers: `python -m inception_keras` and the old name of nn.blocks (docs say so)
OUTSIDE_LAYERS = {"__main__", "blocks"}


def on_disk() -> tuple[set[str], set[str]]:
    """(modules as paths below inception_keras/, packages as `path/`), __init__.py files standing for packages."""
    modules, packages = set(), set()
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        rel = os.path.relpath(folder, PACKAGE).replace(os.sep, "/")
        if "__init__.py" in files and rel != ".":
            packages.add(rel + "/")
        prefix = "" if rel == "." else rel + "/"
        modules |= {prefix + f for f in files if f.endswith(".py") and f != "__init__.py"}
    return modules, packages


def section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/architecture.md has no section '## {title}'"
    return match.group(1)


def first_cells(text: str) -> list[str]:
    """The backticked first cell of every table row: | `name` | ..."""
    return re.findall(r"^\| `([^`]+)` \|", text, re.M)


def doc() -> str:
    return open(DOC, encoding="utf-8").read()


def test_every_module_has_a_row_and_every_row_a_module():
    modules, _ = on_disk()
    rows = first_cells(section(doc(), "Modules"))
    assert len(rows) == len(set(rows)), sorted(r for r in rows if rows.count(r) > 1)
    assert sorted(modules - set(rows)) == [], "modules without a row in docs/architecture.md's module table"
    assert sorted(set(rows) - modules) == [], "rows of docs/architecture.md's module table naming no module"


def test_every_package_has_a_row_and_every_row_a_package():
    _, packages = on_disk()
    rows = first_cells(section(doc(), "Packages"))
    assert len(rows) == len(set(rows))
    assert sorted(packages - set(rows)) == [], "packages without a row in docs/architecture.md's package table"
    assert sorted(set(rows) - packages) == [], "rows of docs/architecture.md's package table naming no package"


def contracts() -> list[dict]:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["tool"]["importlinter"]["contracts"]


def test_every_top_level_package_and_module_has_its_place_in_the_layers():
    (layers,) = [c["layers"] for c in contracts() if c["type"] == "layers"]
    named = {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}
    modules, packages = on_disk()
    top = {p[:-1] for p in packages if p.count("/") == 1} | {m[:-3] for m in modules if "/" not in m}
    assert sorted(top - named - OUTSIDE_LAYERS) == [], "add them to the layers of pyproject.toml's contract"
    assert sorted(named - top) == [], "the layers name what does not exist"
    text = doc()
    assert [name for name in sorted(named) if f"`{name}`" not in text] == [], "layers the document does not name"


def test_every_contract_is_described_by_its_name():
    described = re.findall(r'^\| "([^"]+)"', section(doc(), "The rules are code"), re.M)
    assert sorted(described) == sorted(c["name"] for c in contracts())


def test_the_size_limits_are_the_tests():
    assert f"no module over {MAX_MODULE_LINES} lines, no function over {MAX_FUNCTION_LINES}" in doc()


def test_module_paths_in_the_documents_exist():
    """A path ending in .py in backticks in README.md or docs/*.md names a file of the repository, of
    inception_keras/ (`lang/parse.py`) or of tests/ (`test_x.py`): a moved or removed module is caught."""
    texts = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    tests = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "tests", "**", "*.py"), recursive=True)}
    missing = []
    for path in texts:
        for name in re.findall(r"`([\w./-]+\.py)(?:::\w+)?`", open(path, encoding="utf-8").read()):
            if name == "__init__.py" or name in tests:
                continue
            if not any(os.path.isfile(os.path.join(base, name)) for base in (ROOT, PACKAGE)):
                missing.append(f"{os.path.relpath(path, ROOT)}: {name}")
    assert missing == []

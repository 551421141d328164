#!/usr/bin/env python3
"""The house's figures, for a closing note: modules, lines, the largest module and function, and the imports taken
inside functions (a dependency taken late: fine for TensorFlow in a TensorFlow-free package, a smell elsewhere).

  python tools/house_figures.py [PACKAGE_DIR]      (default: inception_keras/ next to this folder)

Lines are physical lines (what tests/project/test_architecture.py bounds); a function's length runs from its `def`
to its last line, nested functions counted in their parent too.
"""
from __future__ import annotations

import ast
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_files(package: str) -> list[str]:
    out = []
    for folder, _, files in os.walk(package):
        out += [os.path.join(folder, f) for f in files if f.endswith(".py")]
    return sorted(out)


def function_imports(node: ast.AST, inside: bool = False) -> int:
    """Import statements anywhere below a function definition (each counted once, however deep)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return int(inside)
    inside = inside or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
    return sum(function_imports(child, inside) for child in ast.iter_child_nodes(node))


def figures(package: str) -> dict:
    modules, total, largest_module, largest_function, late = 0, 0, ("", 0), ("", 0), 0
    for path in python_files(package):
        text = open(path, encoding="utf-8").read()
        rel = os.path.relpath(path, os.path.dirname(package))
        lines = len(text.splitlines())
        modules, total = modules + 1, total + lines
        largest_module = max(largest_module, (rel, lines), key=lambda p: p[1])
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                largest_function = max(largest_function, (f"{rel}::{node.name}", size), key=lambda p: p[1])
        late += function_imports(tree)
    return {"modules": modules, "lines": total, "largest module": largest_module,
            "largest function": largest_function, "function-level imports": late}


def main() -> None:
    package = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "inception_keras")
    for key, value in figures(package).items():
        print(f"{key}: {value[0]} ({value[1]} lines)" if isinstance(value, tuple) else f"{key}: {value}")


if __name__ == "__main__":
    main()

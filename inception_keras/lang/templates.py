"""Block templates: a block written once in `templates:` and used in stages by name with its parameters.

A template is one layer (usually a `branch`) whose values may be `$param`; a stage item
`- inception_a: {name: mixed0, pool: 32}` is that layer with `$pool` replaced by 32. `repeat: N` makes N
layers named `<name>_1` .. `<name>_N` (Inception-ResNet's `block35_1` .. `block35_10`). Checked here:
the template's keys, the `$names` it uses, and every use's parameters, each mistake at its YAML line.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from inception_keras.lang.arch import Template
from inception_keras.lang.checks import check_mapping, check_value, describe, did_you_mean
from inception_keras.lang.kinds import LAYER_KINDS
from inception_keras.lang.options import Option, options
from inception_keras.lang.reader import Document

USE_KEYS = ("name", "repeat")  # what a use may give besides the template's parameters


@dataclass(frozen=True)
class Declared:
    """A checked template: its parameters with defaults (None: required), its layer kind and value, its path."""

    name: str
    params: dict
    kind: str
    value: Any
    path: tuple


@dataclass(frozen=True)
class Use:
    """One use of a template: its name (None: the stage's numbering), repeat count and parameter values."""

    name: str | None
    repeat: int
    values: dict


def declared_templates(doc: Document, problems: list, value: Any) -> dict[str, Declared]:
    """`templates:`, checked: each one's keys, its one layer kind, and the `$names` it uses."""
    out = {}
    for tname, body in (value or {}).items():
        path = ("templates", tname)
        message = check_value(Option("name", ""), tname)[1]
        if message or tname in LAYER_KINDS:
            problems.append(doc.problem(path, f"template name: {message}" if message else
                                        f"template name '{tname}' is a layer kind; choose another", key=True))
            continue
        checked = check_mapping(doc, problems, options(Template), body, path, f"template '{tname}'")
        if checked is None or "layer" not in checked:
            continue
        layer = checked["layer"]
        if len(layer) != 1 or next(iter(layer)) not in LAYER_KINDS:
            keys = ", ".join(map(str, layer)) or "none"
            problems.append(doc.problem(path + ("layer",), f"a template's layer is one layer kind with its fields "
                                                          f"(`branch: {{...}}`), got keys: {keys}"))
            continue
        kind, lvalue = next(iter(layer.items()))
        params = checked["params"] or {}
        for where, name in _dollars(lvalue, path + ("layer", kind)):
            if name not in params:
                problems.append(doc.problem(where, f"'${name}' is no parameter of template '{tname}'"
                                                   f"{did_you_mean(name, params)} (params: "
                                                   f"{', '.join(params) or 'none'})"))
        out[tname] = Declared(tname, params, kind, lvalue, path + ("layer", kind))
    return out


def _dollars(value: Any, path: tuple):
    """(YAML path, name) of every `$name` value in a template's layer."""
    if isinstance(value, str) and value.startswith("$"):
        yield path, value[1:]
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _dollars(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _dollars(v, path + (i,))


def check_use(doc: Document, problems: list, tpl: Declared, value: Any, path: tuple) -> Use | None:
    """A stage item that uses a template, checked: known parameters, required ones given, name and repeat."""
    value = {} if value is None else value
    if not isinstance(value, dict):
        problems.append(doc.problem(path, f"a use of template '{tpl.name}' is a mapping of its parameters, got "
                                          f"{describe(value)}"))
        return None
    known = list(USE_KEYS) + list(tpl.params)
    ok = True
    for key in value:
        if key not in known:
            problems.append(doc.problem(path + (key,), f"unknown parameter '{key}' of template '{tpl.name}'"
                                                       f"{did_you_mean(key, known)} (known: {', '.join(known)})",
                                        key=True))
            ok = False
    for key, default in tpl.params.items():
        if default is None and key not in value:
            problems.append(doc.problem(path, f"template '{tpl.name}' needs parameter '{key}'"))
            ok = False
    checks = {"name": Option("name", "", None, nullable=True), "repeat": Option("pos_int", "", 1, maximum=1000)}
    got = {}
    for key, o in checks.items():
        got[key], message = check_value(o, value.get(key, o.default))
        if message:
            problems.append(doc.problem(path + (key,), message))
            ok = False
    values = {**tpl.params, **{k: v for k, v in value.items() if k not in USE_KEYS}}
    return Use(got["name"], got["repeat"], values) if ok else None


def filled(value: Any, values: dict) -> Any:
    """The template's layer value with each `$param` replaced by the use's value."""
    if isinstance(value, str) and value.startswith("$") and value[1:] in values:
        return copy.deepcopy(values[value[1:]])
    if isinstance(value, dict):
        return {k: filled(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [filled(v, values) for v in value]
    return value

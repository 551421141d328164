"""Block templates: a block written once in `templates:` and used in stages by name with its parameters.

A template is one layer (usually a `branch`) whose values may be `$param` expressions (`$c`, `$c * 2`,
`$c // 4`: see `expr`); a stage item `- inception_a: {name: mixed0, pool: 32}` is that layer with its
expressions computed from the use's values. `repeat: N` makes N layers named `<name>_1` .. `<name>_N`
(Inception-ResNet's `block35_1` .. `block35_10`). A template's layer may use other templates (in its
branches, as a stage does), at most MAX_NESTING deep; a template that uses itself, directly or through
others, is an error naming the chain. A network has at most MAX_LAYERS layers, counted before a use is
expanded (`layer_count`), so nested `repeat`s cannot make a file that exhausts memory. Checked here: the
template's keys, the `$params` it uses, and every use's parameters, each mistake at its YAML line.
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, replace
from typing import Any

from inception_keras.lang import expr
from inception_keras.lang.arch import Template
from inception_keras.lang.checks import check_mapping, check_value, clip, describe, did_you_mean
from inception_keras.lang.kinds import LAYER_KINDS
from inception_keras.lang.options import Option, options
from inception_keras.lang.reader import Document, InUse

USE_KEYS = ("name", "repeat")  # what a use may give besides the template's parameters
MAX_NESTING = 8  # templates inside templates inside ...: a deeper chain is refused
# layers of a whole network, blocks and the layers inside them (InceptionResNetV2 has 294), counted before a use is
# expanded: the largest network takes seconds to check, not minutes and gigabytes
MAX_LAYERS = 20_000
MAX_REPEAT = 1000


@dataclass(frozen=True)
class Declared:
    """A checked template: its parameters with defaults (None: required), its layer kind and value (kind "": a
    list template, its value the list of layers), its path,
    the templates its layer uses [(name, YAML path of the use)], and whether it can be expanded (`ok`: False
    after a mistake in it, already reported, so its uses make no layers and no second error)."""

    name: str
    params: dict
    kind: str
    value: Any
    path: tuple
    uses: tuple = ()
    ok: bool = True


@dataclass(frozen=True)
class Use:
    """One use of a template: its name (None: the stage's numbering), repeat count, parameter values, and the
    YAML path each value came from (the use's, or the template's default)."""

    name: str | None
    repeat: int
    values: dict
    sources: dict


def declared_templates(doc: Document, problems: list, value: Any) -> dict[str, Declared]:
    """`templates:`, checked: each one's keys, its one layer kind, its expressions and the `$params` they use,
    and the templates it uses (no cycle, at most MAX_NESTING deep)."""
    out = {}
    value = value if isinstance(value, dict) else {}
    for tname, body in value.items():
        declared = _declared(doc, problems, tname, body, set(value))
        if declared is not None:
            out[tname] = declared
    return _nesting(doc, problems, out)


def _declared(doc: Document, problems: list, tname: str, body: Any, names: set) -> Declared | None:
    path = ("templates", tname)
    message = check_value(Option("name", ""), tname)[1]
    if message or tname in LAYER_KINDS:
        problems.append(doc.problem(path, f"template name: {message}" if message else
                                    f"template name '{clip(tname)}' is a layer kind; choose another", key=True))
        return None
    checked = check_mapping(doc, problems, options(Template), body, path, f"template '{tname}'")
    if checked is None:
        return None
    layer, layers = checked.get("layer"), checked.get("layers")
    if (layer is None) == (layers is None):
        problems.append(doc.problem(path, f"template '{tname}' has {'both' if layer else 'neither'} `layer` (one "
                                          f"layer) {'and' if layer else 'nor'} `layers` (a list of layers); give one"))
        return None
    if layers is not None:
        kind, lvalue, lpath = "", layers, path + ("layers",)
    elif len(layer) != 1 or next(iter(layer)) not in LAYER_KINDS:
        keys = ", ".join(clip(str(k)) for k in layer) or "none"
        problems.append(doc.problem(path + ("layer",), f"a template's layer is one layer kind with its fields "
                                                      f"(`branch: {{...}}`), got keys: {clip(keys)}"))
        return None
    else:
        kind, lvalue = next(iter(layer.items()))
        lpath = path + ("layer", kind)
    params = checked["params"] or {}
    ok = True
    for name in params:
        if not expr.PARAM_NAME.match(str(name)):
            problems.append(doc.problem(path + ("params", name), f"parameter name '{clip(str(name))}': letters, "
                                                                 f"digits and _ only (it is written `$name`)",
                                        key=True))
            ok = False
    for where, text in _expressions(lvalue, lpath):
        ok = _check_expression(doc, problems, tname, params, where, text) and ok
    uses = tuple(_uses(lvalue, lpath, names)) + tuple(
        u for p, v in params.items() for u in _uses(v, path + ("params", p), names))
    return Declared(tname, params, kind, lvalue, lpath, uses, ok)


def _check_expression(doc: Document, problems: list, tname: str, params: dict, where: tuple, text: str) -> bool:
    """An expression of template `tname` reads and uses only its parameters (each mistake reported once)."""
    try:
        used = expr.names(_tree(text))
    except expr.ExprError as e:
        problems.append(doc.problem(where, f"'{clip(text)}': {e}"))
        return False
    for name in dict.fromkeys(used):
        if name not in params:
            problems.append(doc.problem(where, f"'${name}' is no parameter of template '{tname}'"
                                               f"{did_you_mean(name, params)} (params: "
                                               f"{', '.join(params) or 'none'})"))
            return False
    return True


@functools.lru_cache(maxsize=4096)
def _tree(text: str) -> tuple:
    return expr.parse(text)


def _expressions(value: Any, path: tuple):
    """(YAML path, text) of every expression (a string with `$`) in a template's layer."""
    if expr.is_expression(value):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _expressions(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _expressions(v, path + (i,))


def _uses(value: Any, path: tuple, names: set):
    """(template name, YAML path) of every use of a template in a layer's lists of layers."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _uses(v, path + (k,), names)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, dict) and len(v) == 1 and next(iter(v)) in names and next(iter(v)) not in LAYER_KINDS:
                yield next(iter(v)), path + (i, next(iter(v)))
            yield from _uses(v, path + (i,), names)


def _nesting(doc: Document, problems: list, declared: dict[str, Declared]) -> dict[str, Declared]:
    """Templates that use themselves (directly or through others) or nest deeper than MAX_NESTING, reported
    once, at the use that closes the chain; they and every template using them are marked not `ok`."""
    height: dict[str, int | None] = {}  # template -> levels of templates it holds; None: cannot be expanded
    chain: list[str] = []
    deep: list[str] = []  # templates found nested too deep

    def visit(name: str) -> int | None:
        if name in height:
            return height[name]
        chain.append(name)
        levels: int | None = 1
        for used, upath in declared[name].uses:
            if used not in declared:
                continue  # a bad template, reported where it is declared
            if used in chain:
                loop = " -> ".join(chain[chain.index(used):] + [used])
                problems.append(doc.problem(upath, f"template cycle: {loop}: a template may not use itself, "
                                                   f"directly or through other templates", key=True))
                sub = None
            elif used in height:
                sub = height[used]
            elif len(chain) >= MAX_NESTING:
                if not deep:  # once: a long chain would be reported every MAX_NESTING templates
                    problems.append(doc.problem(upath, f"templates nested more than {MAX_NESTING} deep: "
                                                       f"{' -> '.join(chain + [used])}", key=True))
                deep.append(name)
                sub = None
            else:
                sub = visit(used)
            levels = None if sub is None or levels is None else max(levels, sub + 1)
        chain.pop()
        if levels is not None and levels > MAX_NESTING:
            deep.append(name)
            problems.append(doc.problem(("templates", name), f"templates nested more than {MAX_NESTING} deep "
                                                             f"below template '{name}'", key=True))
            levels = None
        height[name] = levels
        return levels

    for name in declared:
        visit(name)
    return {n: d if height[n] is not None else replace(d, ok=False) for n, d in declared.items()}
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
            problems.append(doc.problem(path + (key,), f"unknown parameter '{clip(str(key))}' of template "
                                                       f"'{tpl.name}'{did_you_mean(key, known)} (known: "
                                                       f"{', '.join(known)})", key=True))
            ok = False
    for key, default in tpl.params.items():
        if default is None and key not in value:
            problems.append(doc.problem(path, f"template '{tpl.name}' needs parameter '{key}'"))
            ok = False
    checks = {"name": Option("name", "", None, nullable=True),
              "repeat": Option("pos_int", "", 1, maximum=MAX_REPEAT)}
    got = {}
    for key, o in checks.items():
        got[key], message = check_value(o, value.get(key, o.default))
        if message:
            problems.append(doc.problem(path + (key,), message))
            ok = False
    values = {**tpl.params, **{k: v for k, v in value.items() if k not in USE_KEYS}}
    sources = {k: path + (k,) if k in value else ("templates", tpl.name, "params", k) for k in values}
    return Use(got["name"], got["repeat"], values, sources) if ok else None


def fill(doc: Document, problems: list, tpl: Declared, use: Use, at: tuple) -> tuple[Any, InUse] | None:
    """The template's layer for one use (`at`: the use's YAML path): each expression computed with the use's
    values, and the path its layer is parsed at (an `InUse`: problems there name the use, and one at a lone
    `$param` is reported at the value the use gave). None after a mistake (reported)."""
    origins: dict = {}
    failed: list = []

    def walk(value: Any, path: tuple) -> Any:
        if expr.is_expression(value):
            name = expr.lone(value)
            if name is not None:
                origins[path] = use.sources[name]
                return copy.deepcopy(use.values[name])
            try:
                return expr.evaluate(_tree(value), use.values)
            except expr.ExprError as e:
                problems.append(doc.problem(InUse(path, at), f"'{clip(value)}': {e}"))
                failed.append(path)
                return value
        if isinstance(value, dict):
            return {k: walk(v, path + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, path + (i,)) for i, v in enumerate(value)]
        return value

    data = walk(tpl.value, tpl.path)
    return None if failed else (data, InUse(tpl.path, at, origins))


class TooMany(Exception):
    """More layers than the budget left (`layer_count`)."""


def layer_count(templates: dict[str, Declared], tpl: Declared, values: dict, budget: int) -> int:
    """The layers one expansion of `tpl` with `values` makes (the block and every layer inside it, nested
    templates times their `repeat`), counted on the template's data before anything is built: an upper bound
    of what `parse` makes. TooMany once the count passes `budget`. Expressions that cannot be computed count as
    they are (they are reported when the use is expanded)."""
    memo: dict = {}

    def walk(value: Any, depth: int, budget: int) -> int:
        if isinstance(value, dict):
            n = sum(walk(v, depth, budget) for v in value.values())
        elif isinstance(value, list):
            n = sum(item(v, depth, budget) for v in value)
        else:
            return 0
        if n > budget:
            raise TooMany
        return n

    def item(value: Any, depth: int, budget: int) -> int:
        if isinstance(value, str):
            return 1 if value in LAYER_KINDS else 0
        if isinstance(value, dict) and len(value) == 1:
            ((key, inner),) = value.items()
            if key in LAYER_KINDS:
                return 1 + walk(inner, depth, budget)
            if key in templates and isinstance(inner, dict) and templates[key].ok and depth < MAX_NESTING:
                return use(templates[key], inner, depth + 1, budget)
        return walk(value, depth, budget)

    def use(inner: Declared, given: dict, depth: int, budget: int) -> int:
        repeat = given.get("repeat", 1)
        repeat = min(max(repeat, 1), MAX_REPEAT) if isinstance(repeat, int) and not isinstance(repeat, bool) else 1
        text = repr(given)
        key = (inner.name, text) if len(text) < 2000 else None  # a long use is counted each time
        n = memo.get(key) if key is not None else None
        if n is None:
            n = (1 if inner.kind else 0) + walk(_quiet_fill(inner.value, {**inner.params, **given}), depth,
                                                budget // repeat)
            if key is not None:
                memo[key] = n
        if repeat * n > budget:
            raise TooMany
        return repeat * n

    filled_ = _quiet_fill(tpl.value, values)
    return 1 + walk(filled_, 0, budget) if tpl.kind else walk(filled_, 0, budget)


def _quiet_fill(value: Any, values: dict) -> Any:
    """`fill` without reporting: an expression that cannot be computed stays as it is."""
    if expr.is_expression(value):
        name = expr.lone(value)
        if name is not None:
            return values.get(name, value)
        try:
            return expr.evaluate(_tree(value), values)
        except (expr.ExprError, KeyError):
            return value
    if isinstance(value, dict):
        return {k: _quiet_fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_quiet_fill(v, values) for v in value]
    return value

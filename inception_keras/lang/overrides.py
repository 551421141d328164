"""`--set key=value` overrides: dotted YAML paths into the recipe or the architecture."""
from __future__ import annotations

import copy
import re

import yaml

from inception_keras import safeio
from inception_keras.errors import ConfigError, Problem
from inception_keras.lang.reader import Document, load_document, read_value

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
#: a dotted YAML path, `optimizer.learning_rate` or `stages.b1[0].conv.filters` (also what `sweep` axes name)
MAX_KEY = 200  # characters in a --set key (the deepest real path is under 60)
KEY_PATTERN = re.compile(r"^[^.\[\]=]+(?:\.[^.\[\]=]+|\[\d+\])*$")


def parse_sets(items: list[str] | None) -> list[tuple[str, object]]:
    """['epochs=10', 'optimizer.learning_rate=0.05'] -> [('epochs', 10), ...]; values are read as YAML."""
    out = []
    problems = []
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem("--set", "", None, None, f"expected key=value, got '{item}'"))
            continue
        if len(key) > MAX_KEY:
            problems.append(Problem("--set", safeio.printable(key[:40]) + "...", None, None,
                                    f"a key of {len(key):,} characters; keys have at most {MAX_KEY}"))
            continue
        if not KEY_PATTERN.match(key):
            problems.append(Problem("--set", key, None, None, "expected a dotted path of names like "
                                                               "optimizer.learning_rate or stages.b1[0].conv.filters"))
            continue
        try:
            value = read_value(text)
        except ConfigError as e:
            reason = e.problems[0].message if e.problems else str(e)
            shown = safeio.printable(text if len(text) <= 60 else text[:57] + "...")
            problems.append(Problem("--set", key, None, None, f"cannot read the value '{shown}': {reason}"))
            continue
        out.append((key, value))
    if problems:
        raise ConfigError(problems)
    return out


def split_key(key: str) -> tuple:
    parts = []
    for m in _PART.finditer(key):
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    return tuple(parts)


def apply(doc: Document, sets: list[tuple]) -> Document:
    """A copy of `doc` with the overrides set; problems at overridden paths cite the `--set` (or the flag that
    set the key: an item may be (key, value, label), e.g. ("dataset.limit", 64, "--limit 64")).

    A document that is not a mapping is returned as it is: its parser says what is wrong with the file itself.
    """
    if not isinstance(doc.data, dict):
        return doc
    data = copy.deepcopy(doc.data)
    marks = dict(doc.marks)
    origins = dict(doc.origins)
    problems = []
    for item in sets:
        key, value = item[0], item[1]
        label = item[2] if len(item) > 2 else f"--set {key}={set_text(value)}"
        path = split_key(key)
        created: list = []
        message = _set(data, path, value, created)
        if message:
            problems.append(Problem(label.split("=", 1)[0] if len(item) > 2 else "--set", key, None, None, message))
            continue
        for p in list(marks):
            if p[:len(path)] == path:
                del marks[p]
        for p in created + [path]:  # keys the override made are the override's too
            origins[p] = label
    if problems:
        raise ConfigError(problems)
    return Document(doc.file, data, marks, doc.key_marks, origins, doc.files)


def set_items(sets) -> tuple[str, ...]:
    """`--set` items from Python: a mapping {"epochs": 3, "phases": [{"epoch": 2, "freeze": []}]} (each value
    written as YAML: what `--set key=value` would read back), or `KEY=VALUE` strings as the command line takes
    them; None: none."""
    if sets is None:
        return ()
    if isinstance(sets, str):
        raise TypeError(f"sets: a mapping or a list of 'key=value' strings, not the string {sets!r}")
    if hasattr(sets, "items"):
        bad = [k for k in sets if not isinstance(k, str)]
        if bad:
            raise TypeError(f"sets: keys are dotted YAML paths (strings), got {bad[0]!r}")
        return tuple(f"{key}={_flow(value)}" for key, value in sets.items())
    items = tuple(sets)
    bad = [i for i in items if not isinstance(i, str)]
    if bad:
        raise TypeError(f"sets: expected 'key=value' strings, got {bad[0]!r}")
    return items


def _flow(value) -> str:
    """`value` as one line of YAML (tuples as lists), or TypeError for what YAML cannot hold."""
    def plain(v):
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    try:
        text = yaml.safe_dump(plain(value), default_flow_style=True, width=float("inf"))
    except yaml.YAMLError as e:
        raise TypeError(f"sets: {value!r} is not a YAML value ({e})") from None
    return text.strip().removesuffix("...").strip()


def set_text(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def load(path: str, text: str | None = None, sets: list[tuple[str, object]] | None = None,
         what: str = "YAML file") -> Document:
    """Read a YAML file (or `text`) with positions, then apply the `--set` overrides."""
    doc = load_document(str(path), text, what=what)
    return apply(doc, sets) if sets else doc


def _set(data, path: tuple, value, created: list) -> str | None:
    if not path:
        return "empty key"
    node = data
    for i, part in enumerate(path[:-1]):
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return f"no list item [{part}] at this path"
            node = node[part]
        else:
            if not isinstance(node, dict):
                return f"'{part}' is inside a value that is not a mapping"
            if node.get(part) is None:
                node[part] = {}
                created.append(path[:i + 1])
            node = node[part]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            return f"no list item [{last}] at this path"
    elif not isinstance(node, dict):
        return f"'{last}' is inside a value that is not a mapping"
    node[last] = value
    return None

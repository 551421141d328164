"""YAML with positions, and typed fields checked against it.

Architecture and recipe files share this: every value remembers its line and
column, every mistake becomes a `Problem` naming the file, the YAML path
(`stages.b3[1].3x3_reduce`) and the line, and all mistakes of a file are
collected before anything is raised.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

import yaml

from .errors import ConfigError, Problem

Path = tuple  # of str keys and int indexes


def format_path(path: Iterable) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads `1e-4` as a float (YAML 1.1 wants `1.0e-4`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


class Document:
    """A loaded YAML file: plain Python data plus the position of every node."""

    def __init__(self, file: str | None, data: Any, marks: dict | None = None, key_marks: dict | None = None,
                 origins: dict | None = None):
        self.file = file
        self.data = data
        self.marks = marks or {}
        self.key_marks = key_marks or {}
        self.origins = origins or {}  # path -> "--set key=value" for values that came from the command line

    def position(self, path: Path, key: bool = False) -> tuple[int | None, int | None]:
        path = tuple(path)
        if key and path in self.key_marks:
            return self.key_marks[path]
        while True:
            if path in self.marks:
                return self.marks[path]
            if not path:
                return (None, None)
            path = path[:-1]

    def problem(self, path: Path, message: str, key: bool = False) -> Problem:
        path = tuple(path)
        for i in range(len(path), 0, -1):
            if path[:i] in self.origins:
                return Problem(self.file, format_path(path), None, None, f"{message} (from {self.origins[path[:i]]})")
        line, col = self.position(path, key)
        return Problem(self.file, format_path(path), line, col, message)


def _mark(node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def load_document(file: str, text: str | None = None, what: str = "YAML file") -> Document:
    """Read and parse `file` (or `text`), keeping positions. Raises ConfigError."""
    if text is None:
        try:
            with open(file, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise ConfigError([Problem(file, "", None, None, f"{what} not found")]) from None
        except IsADirectoryError:
            raise ConfigError([Problem(file, "", None, None, f"{what} is a directory, not a file")]) from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError([Problem(file, "", None, None, f"cannot read {what}: {e}")]) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        msg = f"invalid YAML: {e.problem}"
        if e.context:
            msg += f" ({e.context}"
            if e.context_mark and e.problem_mark and e.context_mark.line != e.problem_mark.line:
                msg += f" started on line {e.context_mark.line + 1}"
            msg += ")"
        raise ConfigError([Problem(file, "", line, col, msg)]) from None
    except yaml.YAMLError as e:
        raise ConfigError([Problem(file, "", None, None, f"invalid YAML: {e}")]) from None
    if node is None:
        loader.dispose()
        raise ConfigError([Problem(file, "", None, None, f"{what} is empty")])
    marks: dict = {}
    key_marks: dict = {}
    problems: list[Problem] = []

    def convert(n, path):
        marks[path] = _mark(n)
        if isinstance(n, yaml.MappingNode):
            loader.flatten_mapping(n)
            out = {}
            for knode, vnode in n.value:
                key = loader.construct_object(knode, deep=True)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    problems.append(Problem(file, format_path(path), *_mark(knode), "keys must be plain names"))
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in out:
                    problems.append(Problem(file, format_path(path + (key,)), *_mark(knode),
                                            f"duplicate key '{key}' (first on line {key_marks[path + (key,)][0]})"))
                    continue
                key_marks[path + (key,)] = _mark(knode)
                out[key] = convert(vnode, path + (key,))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [convert(v, path + (i,)) for i, v in enumerate(n.value)]
        return loader.construct_object(n, deep=True)

    try:
        data = convert(node, ())
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ConfigError([Problem(file, "", line, col, f"invalid YAML: {e.problem}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise ConfigError(problems)
    return Document(file, data, marks, key_marks)


# ----------------------------------------------------------------------------- fields

REQUIRED = object()
INVALID = object()


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"'{value}' (a string)"
    if isinstance(value, int):
        return f"{value}"
    if isinstance(value, float):
        return f"{value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A close spelling (`kernal` -> kernel), or an abbreviation by initials (`lr` -> learning_rate)."""
    candidates = [str(c) for c in candidates]
    word = str(word)
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not close:
        close = [c for c in candidates if "_" in c and "".join(p[:1] for p in c.split("_")) == word.lower()]
    return f"; did you mean '{close[0]}'?" if close else ""


@dataclass(frozen=True)
class Field:
    """One key of a YAML mapping: its type, default and meaning (the README's reference is made from these)."""

    key: str
    kind: str  # see KINDS
    doc: str
    default: Any = REQUIRED
    choices: tuple = ()
    nullable: bool = False
    attr: str | None = None  # Python attribute name when the key is not an identifier (`1x1`)

    @property
    def name(self) -> str:
        return self.attr or self.key

    @property
    def type_text(self) -> str:
        text = {
            "pos_int": "integer > 0",
            "nonneg_int": "integer >= 0",
            "int": "integer",
            "number": "number",
            "pos_number": "number > 0",
            "nonneg_number": "number >= 0",
            "rate": "number in [0, 1)",
            "bool": "boolean",
            "str": "string",
            "name": "name",
            "choice": " | ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in self.choices),
            "padding": "same | valid | integer >= 0",
            "shape3": "[height, width, channels]",
            "mapping": "mapping",
            "list": "list",
        }.get(self.kind, self.kind)
        return text + (" or null" if self.nullable else "")

    @property
    def default_text(self) -> str:
        if self.default is REQUIRED:
            return "required"
        if self.default is None:
            return "null"
        if isinstance(self.default, bool):
            return str(self.default).lower()
        return str(self.default)


_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def check_value(field: Field, value: Any) -> tuple[Any, str | None]:
    """Return (converted value, None) or (INVALID, message)."""
    if value is None:
        if field.nullable:
            return None, None
        return INVALID, f"expected {_expect(field)}, got nothing (null)"
    kind = field.kind
    if kind in ("pos_int", "nonneg_int", "int"):
        if isinstance(value, bool) or not isinstance(value, int):
            hint = ""
            if isinstance(value, float) and not value.is_integer():
                hint = " (sizes are whole numbers)"
            elif isinstance(value, str) and _looks_numeric(value):
                hint = " (remove the quotes)"
            return INVALID, f"expected {_expect(field)}, got {describe(value)}{hint}"
        if kind == "pos_int" and value <= 0 or kind == "nonneg_int" and value < 0:
            return INVALID, f"expected {_expect(field)}, got {value}"
        return value, None
    if kind in ("number", "pos_number", "nonneg_number", "rate"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = " (remove the quotes)" if isinstance(value, str) and _looks_numeric(value) else ""
            return INVALID, f"expected {_expect(field)}, got {describe(value)}{hint}"
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return INVALID, f"expected {_expect(field)}, got {value}"
        if (kind == "pos_number" and value <= 0 or kind == "nonneg_number" and value < 0
                or kind == "rate" and not 0 <= value < 1):
            return INVALID, f"expected {_expect(field)}, got {value:g}"
        return value, None
    if kind == "padding":
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                return INVALID, f"expected {_expect(field)}, got {value}"
            return value, None
        if not isinstance(value, str):
            hint = " (padding is a whole number of pixels)" if isinstance(value, float) else ""
            return INVALID, f"expected {_expect(field)}, got {describe(value)}{hint}"
        if value not in ("same", "valid"):
            hint = " (remove the quotes)" if value.strip().isdigit() else did_you_mean(value, ("same", "valid"))
            return INVALID, f"unknown padding '{value}'{hint} (one of: same, valid, or an integer >= 0)"
        return value, None
    if kind == "bool":
        if not isinstance(value, bool):
            return INVALID, f"expected true or false, got {describe(value)}"
        return value, None
    if kind == "choice" and any(type(value) is type(c) and value == c for c in field.choices):
        return value, None
    if kind in ("str", "name", "choice"):
        if not isinstance(value, str):
            return INVALID, f"expected {_expect(field)}, got {describe(value)}"
        if kind == "name" and not _NAME_RE.match(value):
            return INVALID, f"expected a name of letters, digits, '_', '.' or '-', got '{value}'"
        if kind == "choice" and value not in field.choices:
            return INVALID, (f"unknown value '{value}'{did_you_mean(value, map(str, field.choices))}"
                             f" (one of: {', '.join(map(str, field.choices))})")
        return value, None
    if kind == "shape3":
        if (not isinstance(value, list) or len(value) != 3
                or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in value)):
            return INVALID, f"expected [height, width, channels] (three integers > 0), got {_short(value)}"
        return tuple(value), None
    if kind == "mapping":
        if not isinstance(value, dict):
            return INVALID, f"expected a mapping, got {describe(value)}"
        return value, None
    if kind == "list":
        if not isinstance(value, list):
            return INVALID, f"expected a list, got {describe(value)}"
        return value, None
    raise AssertionError(kind)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}' (a string)"
    return text if len(text) < 60 else text[:57] + "..."


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _expect(field: Field) -> str:
    return {
        "pos_int": "an integer > 0",
        "nonneg_int": "an integer >= 0",
        "int": "an integer",
        "number": "a number",
        "pos_number": "a number > 0",
        "nonneg_number": "a number >= 0",
        "rate": "a number in [0, 1)",
        "str": "a string",
        "name": "a name",
        "choice": "one of: " + ", ".join(map(str, field.choices)),
        "padding": "same, valid or an integer >= 0",
    }.get(field.kind, field.type_text)


def check_mapping(doc: Document, problems: list, fields: "list[Field]", value: Any, path: Path,
                  what: str) -> dict | None:
    """Check a mapping against `fields`; returns {attr: value} with defaults filled, or None.

    Problems are appended; a field with a bad value is left out of the result
    (the caller stops before using it, since `problems` is not empty).
    """
    if value is None:
        value = {}
    if not isinstance(value, dict):
        problems.append(doc.problem(path, f"{what} must be a mapping of named fields, got {describe(value)}"))
        return None
    known = {f.key: f for f in fields}
    out: dict = {}
    for key in value:
        if key not in known:
            problems.append(doc.problem(path + (key,), f"unknown key '{key}' in {what}{did_you_mean(key, known)}"
                                        f" (known: {', '.join(known)})", key=True))
    for f in fields:
        if f.key in value:
            converted, message = check_value(f, value[f.key])
            if message:
                problems.append(doc.problem(path + (f.key,), message))
            else:
                out[f.name] = converted
        elif f.default is REQUIRED:
            problems.append(doc.problem(path, f"{what} is missing required key '{f.key}' ({f.doc})"))
        else:
            out[f.name] = f.default
    return out


def raise_if(problems: list) -> None:
    if problems:
        raise ConfigError(problems)

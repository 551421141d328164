"""YAML with positions, and typed options declared once, on dataclass fields.

Architecture and recipe files share this: every value remembers its file, line
and column, every mistake becomes a `Problem` naming the file, the YAML path
(`stages.b3[1].3x3_reduce`) and the line, and all mistakes of a file are
collected before anything is raised.

A YAML key is declared once, as a dataclass field whose metadata is an
`Option` (type, default, meaning): `option("pos_int", "output channels")`.
The checker (`check_mapping`, `parse_into`), the README's reference
(tools/yaml_reference.py) and the resolved configuration (`to_plain`) all read
those fields, so nothing is declared twice.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import re
import stat
from dataclasses import dataclass
from typing import Any, Iterable

import yaml

from inception_keras.errors import ConfigError, Problem

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


MAX_BYTES = 1 << 20  # an architecture or recipe is a few KB; anything this large is not one
MAX_VALUES = 100_000  # values after aliases are expanded (a "billion laughs" alias bomb stops here)
MAX_DEPTH = 100  # nesting levels


def read_value(text: str, source: str = "--set"):
    """One YAML value (a `--set` value): the same reading rules and bounds as the files."""
    if text is None or not text.strip():
        return None
    return load_document(source, text, what="value").data


class Document:
    """A loaded YAML file: plain Python data plus the position of every node.

    `marks` and `key_marks` map a YAML path to (line, column); `files` names the file of a path whose
    position lies in another file than `file` (an architecture that `extends` another); `origins` names
    the `--set` that gave a value.
    """

    def __init__(self, file: str | None, data: Any, marks: dict | None = None, key_marks: dict | None = None,
                 origins: dict | None = None, files: dict | None = None):
        self.file = file
        self.data = data
        self.marks = marks or {}
        self.key_marks = key_marks or {}
        self.origins = origins or {}  # path -> "--set key=value" for values that came from the command line
        self.files = files or {}  # path -> file, where not `file`

    def position(self, path: Path, key: bool = False) -> tuple[int | None, int | None, str | None]:
        path = tuple(path)
        if key and path in self.key_marks:
            return (*self.key_marks[path], self.files.get(path, self.file))
        while True:
            if path in self.marks:
                return (*self.marks[path], self.files.get(path, self.file))
            if not path:
                return (None, None, self.file)
            path = path[:-1]

    def problem(self, path: Path, message: str, key: bool = False) -> Problem:
        path = tuple(path)
        for i in range(len(path), 0, -1):
            if path[:i] in self.origins:
                return Problem(self.file, format_path(path), None, None, f"{message} (from {self.origins[path[:i]]})")
        line, col, file = self.position(path, key)
        return Problem(file, format_path(path), line, col, message)

    def sub(self, key: str, file: str | None = None) -> "Document":
        """The document below one top-level key (config.yaml's `arch` and `recipe`), positions kept."""
        n = 1

        def strip(d):
            return {p[n:]: v for p, v in d.items() if p[:n] == (key,)}

        files = {p[n:]: v for p, v in self.files.items() if p[:n] == (key,)}
        data = self.data.get(key) if isinstance(self.data, dict) else None
        return Document(file or self.file, data, strip(self.marks), strip(self.key_marks), strip(self.origins), files)


def _mark(node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def read_text(file: str, what: str = "YAML file", limit: int = MAX_BYTES) -> str:
    """A small text file, read without blocking (a FIFO or a device is refused, not waited on) and bounded."""
    def fail(message):
        return ConfigError([Problem(file, "", None, None, message)])

    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise fail(f"{what} not found") from None
    except IsADirectoryError:
        raise fail(f"{what} is a directory, not a file") from None
    except OSError as e:
        raise fail(f"cannot read {what}: {e.strerror or e}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise fail(f"{what} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise fail(f"{what} is not a regular file (a pipe, device or socket)")
        if info.st_size > limit:
            raise fail(f"{what} is {info.st_size:,} bytes, more than the {limit:,} a YAML file here may have")
        data = os.read(fd, limit + 1)
        while len(data) <= limit:
            more = os.read(fd, limit + 1 - len(data))
            if not more:
                break
            data += more
    except OSError as e:
        raise fail(f"cannot read {what}: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise fail(f"{what} is more than the {limit:,} bytes a YAML file here may have")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise fail(f"cannot read {what}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def load_document(file: str, text: str | None = None, what: str = "YAML file") -> Document:
    """Read and parse `file` (or `text`), keeping positions. Raises ConfigError.

    Bounded: at most MAX_BYTES of text, MAX_DEPTH levels of nesting and MAX_VALUES values with aliases
    expanded, so no input exhausts memory or time.
    """
    if text is None:
        text = read_text(file, what)
    elif len(text) > MAX_BYTES:
        raise ConfigError([Problem(file, "", None, None, f"{what} is more than the {MAX_BYTES:,} bytes a YAML "
                                                         f"file here may have")])
    loader = _Loader(text)
    try:
        node = _compose(loader, file)
        if node is None:
            raise ConfigError([Problem(file, "", None, None, f"{what} is empty")])
        return _Converter(loader, file, what).document(node)
    finally:
        loader.dispose()


def _compose(loader, file: str):
    """The YAML node graph (aliases shared, not expanded), or a ConfigError with the line of the mistake."""
    try:
        return loader.get_single_node()
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
    except RecursionError:
        raise ConfigError([Problem(file, "", None, None, f"invalid YAML: nested too deeply (more than "
                                                         f"{MAX_DEPTH} levels are refused)")]) from None


class _Converter:
    """Nodes -> plain data, recording the position of every value and key, within the bounds."""

    def __init__(self, loader, file: str, what: str):
        self.loader, self.file, self.what = loader, file, what
        self.marks: dict = {}
        self.key_marks: dict = {}
        self.problems: list[Problem] = []
        self.count = 0

    def document(self, node) -> Document:
        try:
            data = self.convert(node, ())
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
            raise ConfigError([Problem(self.file, "", line, col, f"invalid YAML: {e.problem}")]) from None
        except _Refused as e:
            raise ConfigError([Problem(self.file, "", *_mark(e.node), e.message)]) from None
        if self.problems:
            raise ConfigError(self.problems)
        return Document(self.file, data, self.marks, self.key_marks)

    def scalar(self, n):
        try:
            return self.loader.construct_object(n, deep=True)
        except ValueError as e:  # e.g. an integer of more than 4,300 digits
            raise _Refused(n, f"cannot read this value: {str(e).split('; ')[0]}") from None

    def convert(self, n, path):
        self.count += 1
        if self.count > MAX_VALUES:
            raise _Refused(n, f"more than {MAX_VALUES:,} values with aliases expanded; refused")
        if len(path) > MAX_DEPTH:
            raise _Refused(n, f"nested more than {MAX_DEPTH} levels deep")
        self.marks[path] = _mark(n)
        if isinstance(n, yaml.MappingNode):
            return self.mapping(n, path)
        if isinstance(n, yaml.SequenceNode):
            return [self.convert(v, path + (i,)) for i, v in enumerate(n.value)]
        return self.scalar(n)

    def mapping(self, n, path):
        self.loader.flatten_mapping(n)
        out = {}
        for knode, vnode in n.value:
            key = self.scalar(knode) if isinstance(knode, yaml.ScalarNode) else None
            if not isinstance(key, (str, int, float, bool)) or key is None:
                self.problems.append(Problem(self.file, format_path(path), *_mark(knode), "keys must be plain names"))
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                first = self.key_marks[path + (key,)][0]
                self.problems.append(Problem(self.file, format_path(path + (key,)), *_mark(knode),
                                             f"duplicate key '{key}' (first on line {first})"))
                continue
            self.key_marks[path + (key,)] = _mark(knode)
            out[key] = self.convert(vnode, path + (key,))
        return out


class _Refused(Exception):
    def __init__(self, node, message: str):
        super().__init__(message)
        self.node, self.message = node, message


# ----------------------------------------------------------------------------- options

REQUIRED = object()
INVALID = object()

#: Every value type of the YAML language: how an error message names it ("expected an integer > 0").
#: The reference's type column is the same phrase without its article.
TYPES = {
    "pos_int": "an integer > 0",
    "nonneg_int": "an integer >= 0",
    "int": "an integer",
    "number": "a number",
    "pos_number": "a number > 0",
    "nonneg_number": "a number >= 0",
    "rate": "a number in [0, 1)",
    "probability": "a number in [0, 1]",
    "range": "[low, high] (two numbers > 0, low <= high)",
    "bool": "a boolean",
    "str": "a string",
    "name": "a name",
    "shape3": "[height, width, channels]",
    "mapping": "a mapping",
    "list": "a list",
    "numbers": "a list of numbers",
    "padding": "same, valid or an integer >= 0",
    "choice": "one of the choices",
}
PADDINGS = ("same", "valid")


@dataclass(frozen=True)
class Option:
    """One YAML key: its type, default and meaning. Lives in a dataclass field's metadata (see `option`)."""

    kind: str  # a key of TYPES
    doc: str
    default: Any = REQUIRED
    choices: tuple = ()
    nullable: bool = False
    key: str = ""  # the YAML key ("1x1"); the attribute name when not given
    attr: str = ""  # the dataclass attribute (filled by `options`)
    inherit: str | None = None  # null takes the architecture's `defaults.<inherit>`
    channels: bool = False  # a channel count: multiplied by the architecture's `width`
    nested: type | None = None  # a mapping checked against this dataclass's options
    maximum: int | None = None  # integers: the largest value the runtime can take

    @property
    def type_text(self) -> str:
        if self.kind == "choice":
            text = " | ".join(_choice_text(c) for c in self.choices)
        elif self.kind == "padding":
            text = "same | valid | integer >= 0"
        else:
            text = TYPES[self.kind].split(" ", 1)[1] if TYPES[self.kind].startswith(("a ", "an ")) else TYPES[self.kind]
            if self.kind == "range":
                text = "[low, high]"
            if self.maximum is not None:
                text = f"{text}, at most {self.maximum}"
        return text + (" or null" if self.nullable else "")

    @property
    def expected(self) -> str:
        """The phrase after "expected" in an error message."""
        if self.kind == "choice":
            return "one of: " + ", ".join(map(str, self.choices))
        if self.kind == "bool":
            return "true or false"
        return TYPES[self.kind]

    @property
    def default_text(self) -> str:
        if self.default is REQUIRED:
            return "required"
        if self.default is None:
            return "null"
        return _choice_text(self.default)


def _choice_text(value) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(f"{v:.4g}" for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def option(kind: str, doc: str, default: Any = REQUIRED, **more) -> Any:
    """A dataclass field that is a YAML key: `filters: int = option("pos_int", "output channels")`."""
    info = Option(kind, doc, default, **more)
    if default is REQUIRED:
        return dataclasses.field(metadata={"option": info})
    return dataclasses.field(default=default, metadata={"option": info})


@functools.cache
def options(cls) -> tuple[Option, ...]:
    """The YAML keys of a dataclass, in declaration order; keys inherited from a base class come last
    unless the class declares them again (a layer's optional `name` is last, an Inception block's first)."""
    own, inherited = [], []
    declared = set(vars(cls).get("__annotations__", {}))
    for f in dataclasses.fields(cls):
        info = f.metadata.get("option")
        if info is None:
            continue
        info = dataclasses.replace(info, attr=f.name, key=info.key or f.name)
        base_only = any(f.name in getattr(b, "__dataclass_fields__", {}) for b in cls.__mro__[1:])
        (inherited if base_only and f.name not in declared else own).append(info)
    return tuple(own + inherited)


def to_plain(obj) -> Any:
    """A spec dataclass as plain YAML data under its YAML keys (tuples become lists), every option filled."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {o.key: to_plain(getattr(obj, o.attr)) for o in options(type(obj))}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


# ----------------------------------------------------------------------------- checking


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


_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def check_value(o: Option, value: Any) -> tuple[Any, str | None]:
    """Return (converted value, None) or (INVALID, message)."""
    if value is None:
        if o.nullable:
            return None, None
        return INVALID, f"expected {o.expected}, got nothing (null)"
    kind = o.kind
    if kind in ("pos_int", "nonneg_int", "int"):
        if isinstance(value, bool) or not isinstance(value, int):
            hint = ""
            if isinstance(value, float) and not value.is_integer():
                hint = " (sizes are whole numbers)"
            elif isinstance(value, str) and _looks_numeric(value):
                hint = " (remove the quotes)"
            return INVALID, f"expected {o.expected}, got {describe(value)}{hint}"
        if kind == "pos_int" and value <= 0 or kind == "nonneg_int" and value < 0:
            return INVALID, f"expected {o.expected}, got {_int_text(value)}"
        if o.maximum is not None and value > o.maximum:
            return INVALID, f"expected {o.expected} up to {o.maximum}, got {_int_text(value)}"
        return value, None
    if kind == "range":
        return _check_range(o, value)
    if kind in ("number", "pos_number", "nonneg_number", "rate", "probability"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = " (remove the quotes)" if isinstance(value, str) and _looks_numeric(value) else ""
            return INVALID, f"expected {o.expected}, got {describe(value)}{hint}"
        try:
            value = float(value)
        except OverflowError:
            return INVALID, f"expected {o.expected}, got a number too large to represent"
        if math.isnan(value) or math.isinf(value):
            return INVALID, f"expected {o.expected}, got {value}"
        if (kind == "pos_number" and value <= 0 or kind == "nonneg_number" and value < 0
                or kind == "rate" and not 0 <= value < 1 or kind == "probability" and not 0 <= value <= 1):
            return INVALID, f"expected {o.expected}, got {value:g}"
        return value, None
    if kind == "padding":
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                return INVALID, f"expected {o.expected}, got {_int_text(value)}"
            return value, None
        if not isinstance(value, str):
            hint = " (padding is a whole number of pixels)" if isinstance(value, float) else ""
            return INVALID, f"expected {o.expected}, got {describe(value)}{hint}"
        if value not in PADDINGS:
            hint = " (remove the quotes)" if value.strip().isdigit() else did_you_mean(value, PADDINGS)
            return INVALID, f"unknown padding '{value}'{hint} (one of: same, valid, or an integer >= 0)"
        return value, None
    if kind == "bool":
        if not isinstance(value, bool):
            return INVALID, f"expected true or false, got {describe(value)}"
        return value, None
    if kind == "choice" and any(type(value) is type(c) and value == c for c in o.choices):
        return value, None
    if kind in ("str", "name", "choice"):
        if not isinstance(value, str):
            return INVALID, f"expected {o.expected}, got {describe(value)}"
        if kind == "name" and not _NAME_RE.match(value):
            return INVALID, f"expected a name of letters, digits, '_', '.' or '-', got '{value}'"
        if kind == "choice" and value not in o.choices:
            return INVALID, (f"unknown value '{value}'{did_you_mean(value, map(str, o.choices))}"
                             f" (one of: {', '.join(map(str, o.choices))})")
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
    if kind == "numbers":
        if (not isinstance(value, list) or not value
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)):
            return INVALID, f"expected {o.expected} ([0.5, 0.5, 0.5]), got {_short(value)}"
        if any(math.isnan(v) or math.isinf(v) for v in value):
            return INVALID, f"expected finite numbers, got {_short(value)}"
        return tuple(float(v) for v in value), None
    if kind == "list":
        if not isinstance(value, list):
            return INVALID, f"expected a list, got {describe(value)}"
        return value, None
    raise AssertionError(kind)


def _check_range(o: Option, value: Any) -> tuple[Any, str | None]:
    """[low, high]: two finite numbers > 0, low <= high, and at most `o.maximum` when it is given."""
    bound = f", at most {o.maximum:g}" if o.maximum is not None else ""
    wanted = f"[low, high] (two numbers > 0{bound}, low <= high)"
    if (not isinstance(value, list) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)):
        return INVALID, f"expected {wanted}, got {_short(value)}"
    try:
        low, high = (float(v) for v in value)
    except OverflowError:
        return INVALID, f"expected {wanted}, got a number too large to represent"
    if not all(math.isfinite(v) and v > 0 for v in (low, high)):
        return INVALID, f"expected {wanted}, got [{low:g}, {high:g}]"
    if low > high:
        return INVALID, f"expected {wanted}, got low {low:g} > high {high:g}"
    if o.maximum is not None and high > o.maximum:
        return INVALID, f"expected {wanted}, got high {high:g} > {o.maximum:g}"
    return (low, high), None


def _int_text(value: int) -> str:
    text = str(value) if abs(value) < 10 ** 30 else f"an integer of {len(str(abs(value)))} digits"
    return text


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}' (a string)"
    return text if len(text) < 60 else text[:57] + "..."


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def check_mapping(doc: Document, problems: list, opts: Iterable[Option], value: Any, path: Path, what: str,
                  defaults: dict | None = None, required: bool = True) -> dict | None:
    """Check a mapping against options; returns {attr: value} with defaults filled, or None.

    `defaults` ({attr: value}) take the place of the options' own defaults (an architecture's per-kind
    defaults); with `required=False` missing required keys are not reported (a partial mapping).
    Problems are appended; a key with a bad value is left out of the result (the caller stops before
    using it, since `problems` is not empty).
    """
    opts = list(opts)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        problems.append(doc.problem(path, f"{what} must be a mapping of named fields, got {describe(value)}"))
        return None
    known = {o.key: o for o in opts}
    out: dict = {}
    for key in value:
        if key not in known:
            problems.append(doc.problem(path + (key,), f"unknown key '{key}' in {what}{did_you_mean(key, known)}"
                                        f" (known: {', '.join(known)})", key=True))
    for o in opts:
        if o.key in value:
            converted, message = check_value(o, value[o.key])
            if message:
                problems.append(doc.problem(path + (o.key,), message))
            else:
                out[o.attr] = converted
        elif defaults and o.attr in defaults:
            out[o.attr] = defaults[o.attr]
        elif o.default is REQUIRED:
            if required:
                problems.append(doc.problem(path, f"{what} is missing required key '{o.key}' ({o.doc})"))
        else:
            out[o.attr] = o.default
    return out


def parse_into(doc: Document, problems: list, cls, value: Any, path: Path, what: str) -> dict | None:
    """`check_mapping` against a dataclass's options, recursing into nested dataclasses; {attr: value}."""
    out = check_mapping(doc, problems, options(cls), value, path, what)
    if out is None:
        return None
    for o in options(cls):
        if o.nested is not None and o.attr in out and out[o.attr] is not None:
            inner = parse_into(doc, problems, o.nested, out[o.attr], path + (o.key,), o.key)
            if inner is not None:
                out[o.attr] = inner
    return out


def build(cls, values: dict, **extra):
    """The dataclass from checked values, nested dataclasses included."""
    values = dict(values, **extra)
    for o in options(cls):
        if o.nested is not None and isinstance(values.get(o.attr), dict):
            values[o.attr] = build(o.nested, values[o.attr])
    return cls(**values)


def raise_if(problems: list) -> None:
    if problems:
        unique = list(dict.fromkeys(problems))  # a shared declaration checked for two owners: report it once
        raise ConfigError(unique)


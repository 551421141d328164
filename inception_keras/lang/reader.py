"""YAML with positions: the bounded reader, and `Document`, which remembers where every value was written.

Architecture and recipe files share this: every value remembers its file, line and column, so every mistake
becomes a `Problem` naming the file, the YAML path (`stages.b3[1].3x3_reduce`) and the line. The reader is
bounded (size, nesting, values with aliases expanded), so no input exhausts memory or time.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

import yaml

from inception_keras import safeio
from inception_keras.errors import ConfigError, Problem, clip

Path = tuple  # of str keys and int indexes

def format_path(path: Iterable) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + clip(str(part))
    return out


class InUse(tuple):
    """A YAML path inside a template's layer as one use of the template expands it.

    A problem at such a path also names the use (its YAML path, file, line and column); one at the place of a
    lone `$param` (or below it) is reported where the value was given: at the use's value (`origins` maps
    the template path of the `$param` to the path of its value), naming the template's place in the message.
    Built with `path + (key,)` as plain paths are, so everything below a template's layer carries it.
    """

    def __new__(cls, parts, use: tuple = (), origins: dict | None = None):
        self = super().__new__(cls, parts)
        self.use, self.origins = use, origins or {}
        return self

    def __add__(self, other):
        return InUse(tuple(self) + tuple(other), self.use, self.origins)

    def __reduce__(self):
        return InUse, (tuple(self), self.use, self.origins)


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
        self.noted: dict = {}  # (path, message) -> the problem reported at a use's value (see `_in_use`)

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
        if isinstance(path, InUse):
            return self._in_use(path, message, key)
        path = tuple(path)
        for i in range(len(path), 0, -1):
            if path[:i] in self.origins:
                return Problem(self.file, format_path(path), None, None, f"{message} (from {self.origins[path[:i]]})")
        line, col, file = self.position(path, key)
        return Problem(file, format_path(path), line, col, message)

    def where(self, path: Path) -> str:
        """`stages.b[0].blk, file:line:column` (and the use it is in, for a path inside a template)."""
        line, col, file = self.position(tuple(path))
        text = f"{format_path(path) or 'the top level'}, {file or '<input>'}" + (f":{line}:{col}" if line else "")
        return text + (f" in the use at {self.where(path.use)}" if isinstance(path, InUse) else "")

    def _in_use(self, path: InUse, message: str, key: bool) -> Problem:
        plain = tuple(path)
        for i in range(len(plain), 0, -1):
            if plain[:i] in path.origins:
                origin = path.origins[plain[:i]]
                key = (tuple(origin + plain[i:]), message)
                if key not in self.noted:  # a value used at six places of a template: one problem, at the first
                    note = f" (as ${origin[-1]} in {self.where(plain[:i])})"  # once, through nested templates
                    self.noted[key] = self.problem(origin + plain[i:], message if message.endswith(note)
                                                   else message + note)
                return self.noted[key]
        found = self.problem(plain, message, key)
        return Problem(found.file, found.path, found.line, found.column,
                       f"{found.message} (in the use at {self.where(path.use)})")

    def sub(self, key: str, file: str | None = None) -> Document:
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
    return safeio.read_text(file, what, limit)


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
    bad = safeio.control_character(text)
    if bad is not None:
        raise ConfigError([Problem(file, "", bad[0], bad[1], f"invalid YAML: control character {bad[2]} at line "
                                                             f"{bad[0]}, column {bad[1]} (only tab and line breaks "
                                                             "may appear in YAML text)")])
    key = (file, text, what)
    if key not in _PARSED:
        loader = _Loader(text)
        try:
            node = _compose(loader, file)
            if node is None:
                raise ConfigError([Problem(file, "", None, None, f"{what} is empty")])
            document = _Converter(loader, file, what).document(node)
        finally:
            loader.dispose()
        if len(_PARSED) >= 16:
            _PARSED.clear()
        _PARSED[key] = document
    return copy.deepcopy(_PARSED[key])  # a copy: callers may change what they get


# (file, text, what) -> Document: a sweep resolves the same files once per point; parsing them once keeps a
# grid of a thousand points from spending most of its time in the YAML parser
_PARSED: dict = {}


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
                                             f"duplicate key '{clip(key)}' (first on line {first})"))
                continue
            self.key_marks[path + (key,)] = _mark(knode)
            out[key] = self.convert(vnode, path + (key,))
        return out


class _Refused(Exception):
    def __init__(self, node, message: str):
        super().__init__(message)
        self.node, self.message = node, message

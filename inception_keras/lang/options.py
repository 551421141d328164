"""Typed options, declared once, on dataclass fields.

A YAML key is declared once, as a dataclass field whose metadata is an `Option` (type, default, meaning):
`option("pos_int", "output channels")`. The checker (`checks.check_mapping`, `checks.parse_into`), the
reference in docs/yaml.md (tools/yaml_reference.py) and the resolved configuration (`to_plain`) all read
those fields, so nothing is declared twice.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

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
    "pos_ints": "a list of integers > 0",
    "padding": "same, valid, an integer >= 0 or [height, width] of integers >= 0",
    "size": "an integer > 0 or [height, width] of integers > 0",
    "layers": "a list of layers",
    "branches": "a list of branches (each a list of layers)",
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
            text = "same | valid | integer >= 0 | [height, width]"
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

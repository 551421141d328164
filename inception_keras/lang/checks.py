"""Checking YAML data against options: one checker per value type, then whole mappings.

`check_value` looks the option's type up in `CHECKERS` (one small function per type name, as layer kinds
are a registry); `check_mapping` and `parse_into` check a mapping key by key, collecting every `Problem`
(file, YAML path, line) before anything is raised, so a file's mistakes are reported at once.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from inception_keras.errors import ConfigError, clip
from inception_keras.lang.options import INVALID, PADDINGS, REQUIRED, Option, options
from inception_keras.lang.reader import Document, Path

Checked = tuple[Any, "str | None"]  # (converted value, None) or (INVALID, message)


def describe(value: Any) -> str:
    """How an error message names a value it got: `'3' (a string)`, `nothing (null)`, `a list`; cut to a
    short prefix (`clip`)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"'{clip(value)}' (a string)"
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, float):
        return f"{value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return clip(repr(value))


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A close spelling (`kernal` -> kernel), or an abbreviation by initials (`lr` -> learning_rate)."""
    candidates = [str(c) for c in candidates]
    word = str(word)
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not close:
        close = [c for c in candidates if "_" in c and "".join(p[:1] for p in c.split("_")) == word.lower()]
    return f"; did you mean '{close[0]}'?" if close else ""


_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def check_value(o: Option, value: Any) -> Checked:
    """Return (converted value, None) or (INVALID, message)."""
    if value is None:
        if o.nullable:
            return None, None
        return INVALID, f"expected {o.expected}, got nothing (null)"
    checker = CHECKERS.get(o.kind)
    if checker is None:
        raise AssertionError(o.kind)
    return checker(o, value)


_INT_BOUNDS: dict[str, Callable[[int], bool]] = {
    "int": lambda v: True,
    "pos_int": lambda v: v > 0,
    "nonneg_int": lambda v: v >= 0,
}


def _check_int(o: Option, value: Any) -> Checked:
    """pos_int, nonneg_int, int: a whole number (not a boolean) within the type's bound and `o.maximum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        hint = ""
        if isinstance(value, float) and not value.is_integer():
            hint = " (sizes are whole numbers)"
        elif isinstance(value, str) and _looks_numeric(value):
            hint = " (remove the quotes)"
        return INVALID, f"expected {o.expected}, got {describe(value)}{hint}"
    if not _INT_BOUNDS[o.kind](value):
        return INVALID, f"expected {o.expected}, got {_int_text(value)}"
    if o.maximum is not None and value > o.maximum:
        return INVALID, f"expected {o.expected} up to {o.maximum}, got {_int_text(value)}"
    return value, None


_NUMBER_BOUNDS: dict[str, Callable[[float], bool]] = {
    "number": lambda v: True,
    "pos_number": lambda v: v > 0,
    "nonneg_number": lambda v: v >= 0,
    "rate": lambda v: 0 <= v < 1,
    "probability": lambda v: 0 <= v <= 1,
}


def _check_number(o: Option, value: Any) -> Checked:
    """number, pos_number, nonneg_number, rate, probability: a finite float within the type's bound."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        hint = " (remove the quotes)" if isinstance(value, str) and _looks_numeric(value) else ""
        return INVALID, f"expected {o.expected}, got {describe(value)}{hint}"
    try:
        value = float(value)
    except OverflowError:
        return INVALID, f"expected {o.expected}, got a number too large to represent"
    if math.isnan(value) or math.isinf(value):
        return INVALID, f"expected {o.expected}, got {value}"
    if not _NUMBER_BOUNDS[o.kind](value):
        return INVALID, f"expected {o.expected}, got {value:g}"
    return value, None


def _check_range(o: Option, value: Any) -> Checked:
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


def _pair(value: Any, low: int) -> tuple | None:
    """[height, width] of whole numbers >= low, as a tuple; None when `value` is not that."""
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= low for v in value)):
        return tuple(value)
    return None


def _check_size(o: Option, value: Any) -> Checked:
    """A window or stride: an integer > 0 for both axes, or [height, width] (`kernel: [1, 7]`)."""
    if isinstance(value, list):
        pair = _pair(value, 1)
        if pair is None:
            return INVALID, f"expected {o.expected}, got {_short(value)}"
        return pair, None
    return _check_int(dataclasses.replace(o, kind="pos_int"), value)


def _check_layers(o: Option, value: Any) -> Checked:
    """A list of layers (checked one by one by the parser); an empty list is the identity."""
    if not isinstance(value, list):
        return INVALID, f"expected {o.expected} (`- conv: {{filters: 64, kernel: 1}}`), got {describe(value)}"
    return value, None


def _check_branches(o: Option, value: Any) -> Checked:
    """A non-empty list of branches, each a list of layers (`[]`: the identity)."""
    if not isinstance(value, list) or not value or any(not isinstance(b, list) for b in value):
        return INVALID, (f"expected {o.expected}: `- [conv: {{filters: 64, kernel: 1}}]` per branch, `- []` for "
                         f"the identity, got {_short(value)}")
    return value, None


def _check_padding(o: Option, value: Any) -> Checked:
    """same, valid, a whole number of pixels >= 0, or [height, width] pixels (PyTorch's padding=(0, 3))."""
    if isinstance(value, list):
        pair = _pair(value, 0)
        if pair is None:
            return INVALID, f"expected {o.expected}, got {_short(value)}"
        return pair, None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            return INVALID, f"expected {o.expected}, got {_int_text(value)}"
        return value, None
    if not isinstance(value, str):
        hint = " (padding is a whole number of pixels)" if isinstance(value, float) else ""
        return INVALID, f"expected {o.expected}, got {describe(value)}{hint}"
    if value not in PADDINGS:
        hint = " (remove the quotes)" if value.strip().isdigit() else did_you_mean(value, PADDINGS)
        return INVALID, f"unknown padding '{clip(str(value))}'{hint} (one of: same, valid, or an integer >= 0)"
    return value, None


def _check_bool(o: Option, value: Any) -> Checked:
    if not isinstance(value, bool):
        return INVALID, f"expected true or false, got {describe(value)}"
    return value, None


def _check_str(o: Option, value: Any) -> Checked:
    if not isinstance(value, str):
        return INVALID, f"expected {o.expected}, got {describe(value)}"
    return value, None


def _check_name(o: Option, value: Any) -> Checked:
    """A string of letters, digits, '_', '.' or '-' (stage, block and network names go into file names)."""
    if not isinstance(value, str):
        return INVALID, f"expected {o.expected}, got {describe(value)}"
    if not _NAME_RE.match(value):
        return INVALID, f"expected a name of letters, digits, '_', '.' or '-', got '{clip(value)}'"
    return value, None


def _check_choice(o: Option, value: Any) -> Checked:
    """One of `o.choices`: a choice of another type (a boolean, a number) is taken as it is, else a string."""
    if any(type(value) is type(c) and value == c for c in o.choices):
        return value, None
    if not isinstance(value, str):
        return INVALID, f"expected {o.expected}, got {describe(value)}"
    if value not in o.choices:
        return INVALID, (f"unknown value '{clip(str(value))}'{did_you_mean(value, map(str, o.choices))}"
                         f" (one of: {', '.join(map(str, o.choices))})")
    return value, None


def _check_shape3(o: Option, value: Any) -> Checked:
    if (not isinstance(value, list) or len(value) != 3
            or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in value)):
        return INVALID, f"expected [height, width, channels] (three integers > 0), got {_short(value)}"
    return tuple(value), None


def _check_mapping(o: Option, value: Any) -> Checked:
    if not isinstance(value, dict):
        return INVALID, f"expected a mapping, got {describe(value)}"
    return value, None


def _check_numbers(o: Option, value: Any) -> Checked:
    """A non-empty list of finite numbers, as a tuple of floats."""
    if (not isinstance(value, list) or not value
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)):
        return INVALID, f"expected {o.expected} ([0.5, 0.5, 0.5]), got {_short(value)}"
    if any(math.isnan(v) or math.isinf(v) for v in value):
        return INVALID, f"expected finite numbers, got {_short(value)}"
    return tuple(float(v) for v in value), None


def _check_pos_ints(o: Option, value: Any) -> Checked:
    """A non-empty list of whole numbers > 0 (at most `o.maximum` each), as a tuple."""
    if (not isinstance(value, list) or not value
            or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in value)):
        return INVALID, f"expected {o.expected} ([24, 8, 8, 8]), got {_short(value)}"
    if o.maximum is not None and any(v > o.maximum for v in value):
        return INVALID, f"expected integers of at most {o.maximum:,}, got {_short(value)}"
    return tuple(value), None


def _check_list(o: Option, value: Any) -> Checked:
    if not isinstance(value, list):
        return INVALID, f"expected a list, got {describe(value)}"
    return value, None


#: The checker of every type of `options.TYPES`: (option, value other than null) -> (value, None) or
#: (INVALID, message).
CHECKERS: dict[str, Callable[[Option, Any], Checked]] = {
    "pos_int": _check_int,
    "nonneg_int": _check_int,
    "int": _check_int,
    "number": _check_number,
    "pos_number": _check_number,
    "nonneg_number": _check_number,
    "rate": _check_number,
    "probability": _check_number,
    "range": _check_range,
    "bool": _check_bool,
    "str": _check_str,
    "name": _check_name,
    "shape3": _check_shape3,
    "mapping": _check_mapping,
    "list": _check_list,
    "numbers": _check_numbers,
    "pos_ints": _check_pos_ints,
    "padding": _check_padding,
    "size": _check_size,
    "layers": _check_layers,
    "branches": _check_branches,
    "choice": _check_choice,
}


def _int_text(value: int) -> str:
    text = str(value) if abs(value) < 10 ** 30 else f"an integer of {len(str(abs(value)))} digits"
    return text


def _short(value: Any) -> str:
    return clip(repr(value)) if not isinstance(value, str) else describe(value)


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
            problems.append(doc.problem(path + (key,), f"unknown key '{clip(str(key))}' in {what}"
                                                       f"{did_you_mean(key, known)} (known: {', '.join(known)})",
                                        key=True))
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


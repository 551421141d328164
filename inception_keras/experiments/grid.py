"""The grid of a sweep: `--set KEY=V1,V2,...` strings parsed into axes, their product into points, each point
checked by the schema and given its run directory under the sweep directory. No TensorFlow, no processes: running
the points is engine/sweep.py's.

A `--set KEY=V1,V2,...` with several values (split on top-level commas only, so `arch.input=[64,64,1]` is one
value) or an integer range (`seed=0..9`, both ends included) is an axis of the grid; a `--set` with one value
applies to every point. The points are the product of the axes, the last axis varying fastest; each value is
read as YAML and every point's configuration is checked by the schema before anything trains.

The default sweep directory is named after the architecture, the recipe, the swept keys and a hash of the
configuration they vary from, so that the same command finds it again (and a command with more values for the
same keys adds points to it).
"""
from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
from dataclasses import dataclass, field

import yaml

from inception_keras import runs
from inception_keras.engine.plan import TrainOptions
from inception_keras.errors import ConfigError
from inception_keras.lang.overrides import KEY_PATTERN
from inception_keras.lang.reader import read_value
from inception_keras.lang.resolve import resolve

MAX_POINTS = 10_000
_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")
_OPEN, _CLOSE = "[{(", "]})"


@dataclass(frozen=True)
class Axis:
    """One swept key and its values (as read from YAML), in the order given."""

    key: str
    values: tuple


@dataclass(frozen=True)
class Point:
    index: int
    values: tuple  # ((key, value), ...), one per axis
    run_dir: str
    config: dict = field(repr=False, compare=False, default=None)

    @property
    def label(self) -> str:
        """`seed=0,optimizer.learning_rate=0.05`: the point's values as `--set`s would give them."""
        return ",".join(f"{k}={value_text(v)}" for k, v in self.values)

    @property
    def sets(self) -> list[str]:
        return [f"{k}={value_text(v)}" for k, v in self.values]


@dataclass
class Sweep:
    options: TrainOptions  # arch, recipe, limit, data_dir, strategy, runs_root; `sets` are the fixed --sets
    axes: list
    directory: str
    points: list

    def child_args(self, index: int) -> list[str]:
        """The command line (after `inception-keras`) that runs point `index` alone."""
        o = self.options
        args = ["sweep", "--arch", o.arch, "--recipe", o.recipe, "--sweep-dir", self.directory,
                "--index", str(index)]
        for s in o.sets:
            args += ["--set", s]
        for axis in self.axes:
            args += ["--set", f"{axis.key}={','.join(value_text(v) for v in axis.values)}"]
        for flag, value in (("--limit", o.limit), ("--data-dir", o.data_dir), ("--strategy", o.strategy)):
            if value is not None:
                args += [flag, str(value)]
        return args


# ----------------------------------------------------------------------------- the grid


def value_text(value) -> str:
    """A value as one-line YAML that reads back as the same value, also as an item of a grid's comma list
    (`0.05`, `[64, 64, 1]`, `"a,b"`)."""
    import json

    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip()
    text = text[:-len("...")].strip() if text.endswith("...") else text
    if isinstance(value, str) and (len(split_values(text)) > 1 or _RANGE.match(text)):
        text = json.dumps(value)  # a JSON string is a YAML double-quoted scalar
    return text


def split_values(text: str) -> list[str]:
    """Split on commas outside brackets, braces and quotes: `0,[64,64,1],'a,b'` -> 3 items."""
    items, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


def _values(key: str, text: str) -> list:
    """The values of one `--set KEY=TEXT`: each comma-separated item read as YAML, ranges expanded."""
    if not text.strip():
        raise ConfigError(f"--set {key}=: no values (give one or more, separated by commas, or a range such as 0..9)")
    out = []
    for item in split_values(text):
        m = _RANGE.match(item)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise ConfigError(f"--set {key}={text}: the range {item.strip()} is empty (write it low..high)")
            if hi - lo >= MAX_POINTS:
                raise ConfigError(f"--set {key}={text}: the range {item.strip()} has more than {MAX_POINTS:,} values")
            out += list(range(lo, hi + 1))
            continue
        if not item.strip():
            raise ConfigError(f"--set {key}={text}: an empty value between commas")
        try:
            out.append(read_value(item))
        except ConfigError as e:
            reason = e.problems[0].message if e.problems else str(e)
            raise ConfigError(f"--set {key}={text}: cannot read the value '{item.strip()}': {reason}") from None
    seen: set = set()
    for v in out:  # one hash per value (runs.same_value's rule), so a thousand values take no longer than needed
        canonical = _canonical(v)
        if canonical in seen:
            raise ConfigError(f"--set {key}={text}: the value {value_text(v)} is given twice")
        seen.add(canonical)
    return out


def _canonical(v):
    """A hashable form of a YAML value under runs.same_value's rule: a bool only equals a bool, numbers by value
    (1 and 1.0 hash alike), mappings by their keys and values, lists and tuples item by item."""
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, dict):
        return ("map", frozenset((str(k), _canonical(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return ("seq", tuple(_canonical(x) for x in v))
    return ("value", v) if v is None or isinstance(v, (int, float, str)) else ("other", repr(v))


def parse_grid(items: list[str]) -> tuple[list[str], list[Axis]]:
    """`--set` strings -> (fixed `KEY=VALUE` sets, axes). A key given twice, a bad key or value: ConfigError."""
    fixed, axes, keys = [], [], []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set: expected KEY=VALUE or KEY=V1,V2,..., got '{item}'")
        if not KEY_PATTERN.match(key):
            raise ConfigError(f"--set {key}: expected a dotted path of names like optimizer.learning_rate")
        if key in keys:
            raise ConfigError(f"--set {key}: given twice; give all its values in one --set {key}=V1,V2,...")
        keys.append(key)
        values = _values(key, text)
        if len(values) == 1 and not _RANGE.match(text):
            fixed.append(f"{key}={value_text(values[0])}")
        else:
            axes.append(Axis(key, tuple(values)))
    return fixed, axes


def _short_keys(axes: list[Axis]) -> list[str]:
    """The last part of each key (`learning_rate`), or the whole key where two axes end alike."""
    last = [a.key.replace("[", ".").split(".")[-1].rstrip("]") for a in axes]
    return [s if last.count(s) == 1 else a.key for s, a in zip(last, axes)]


def _dir_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "_"


def point_dir_name(short: list[str], values: tuple) -> str:
    """`seed=0,learning_rate=0.05`; characters other than letters, digits and . _ + - become _."""
    name = ",".join(f"{_dir_part(k)}={_dir_part(value_text(v))}" for k, (_, v) in zip(short, values))
    if len(name) > 200:
        name = name[:180] + "-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return name


def default_directory(options: TrainOptions, axes: list[Axis], first) -> str:
    """`<runs root>/sweep-<arch>-<recipe>-<swept keys>-<hash>`: the hash is of the configuration the points
    vary from (the files with the fixed `--set`s) and of the swept keys, not their values, so that the same
    command finds the sweep again and more values for the same keys add points to it. `first`: the first
    point's (spec, recipe, config), for the names (and the hash, when the files alone are incomplete)."""
    spec, recipe, config = first
    try:
        base = resolve(options.arch, options.recipe, options.sets, options.limit, options.data_dir,
                       options.strategy)[2]
    except ConfigError:  # a key that only the swept values complete: the inputs as given
        base = {"arch": os.path.abspath(options.arch), "recipe": os.path.abspath(options.recipe),
                "sets": list(options.sets), "limit": options.limit, "data_dir": options.data_dir,
                "strategy": options.strategy}
    digest = hashlib.sha256(runs.dump_config({"base": base, "axes": [a.key for a in axes]}).encode())
    keys = "+".join(_dir_part(k) for k in _short_keys(axes))
    return os.path.join(options.runs_root, f"sweep-{spec.name}-{recipe.name}-{keys[:60]}-{digest.hexdigest()[:8]}")


def make_sweep(grid: list[str], options: TrainOptions = TrainOptions(), directory: str | None = None) -> Sweep:
    """The sweep of `grid` (`--set` strings, several values each) from `options`; every point checked.

    Raises ConfigError for a bad grid (empty, a key given twice, a value that is not YAML, a repeated value)
    and for points whose configuration the schema refuses, naming each such point.
    """
    fixed, axes = parse_grid(list(options.sets) + list(grid))
    if not axes:
        raise ConfigError("the grid is empty: give at least one --set with several values (KEY=V1,V2,...) or a "
                          "range (seed=0..9)")
    options = TrainOptions(options.arch, options.recipe, sets=tuple(fixed), limit=options.limit,
                           data_dir=options.data_dir, strategy=options.strategy, runs_root=options.runs_root,
                           verbose=options.verbose)
    count = math.prod(len(a.values) for a in axes)  # counted before the grid is built
    if count > MAX_POINTS:
        raise ConfigError(f"the grid has {count:,} points, more than {MAX_POINTS:,}")
    combos = list(itertools.product(*[[(a.key, v) for v in a.values] for a in axes]))
    checked, problems = [], []
    for i, values in enumerate(combos):
        point = Point(i, tuple(values), "")
        try:
            checked.append(resolve(options.arch, options.recipe, fixed + point.sets, options.limit, options.data_dir,
                                   options.strategy))
        except ConfigError as e:
            problems.append(f"sweep point {i} ({point.label}): {e}")
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more points"] if len(problems) > 10 else [])
        raise ConfigError(f"{len(problems)} of {len(combos)} sweep points are not valid:\n" + "\n".join(shown)
                          if len(problems) > 1 else problems[0])
    if directory is None:
        directory = default_directory(options, axes, checked[0])
    short = _short_keys(axes)
    points, dirs = [], {}
    for i, (values, (_, _, config)) in enumerate(zip(combos, checked)):
        point = Point(i, tuple(values), os.path.join(directory, point_dir_name(short, values)), config)
        if point.run_dir in dirs:
            raise ConfigError(f"sweep point {i} ({point.label}): its run directory {point.run_dir} would be point "
                              f"{dirs[point.run_dir]}'s too; give values that differ in letters or digits")
        dirs[point.run_dir] = i
        points.append(point)
    return Sweep(options, axes, directory, points)

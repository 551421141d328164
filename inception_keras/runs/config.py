"""A run's configuration: config.yaml written and read back, resolved (every key filled, so runs of any
version compare key for key), and the one comparison of configurations.

One rule says when two values are the same (`same_value`: a list and a tuple alike, a bool never a number);
`same_config` (are two runs' configurations one?), `differing_keys` (which keys of two differ, for a message)
and `differing` (which keys differ among several runs, one column each) all rest on it.
"""
from __future__ import annotations

import os
import re

import yaml

from inception_keras import safeio
from inception_keras.errors import ConfigError
from inception_keras.lang.parse import parse_arch
from inception_keras.lang.reader import Document, load_document
from inception_keras.lang.recipe import parse_recipe
from inception_keras.runs.files import CONFIG, atomic_write

MISSING = object()  # a key one configuration lacks, in the values of `differing`


def read_config(run_dir: str) -> dict | None:
    """config.yaml as plain data, or None when the run directory has none (or it holds no YAML at all)."""
    doc = load_config(run_dir)
    return None if doc is None else doc.data


def load_config(run_dir: str) -> Document | None:
    """config.yaml through the project's YAML loader: its data and the line of every value, or None.

    A file that cannot be read raises ConfigError ('<path>: cannot read: ...'), one that is not YAML the
    loader's ConfigError (file, line and column).
    """
    path = os.path.join(run_dir, CONFIG)
    if not os.path.lexists(path):
        return None
    try:
        text = safeio.read_text(path, "run configuration", safeio.LIMITS["yaml"])
    except ConfigError as e:
        raise ConfigError(f"{safeio.shown(path)}: cannot read: {e.problems[0].message}") from None
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        return None  # empty, or comments only: no configuration (as yaml.safe_load's None)
    doc = load_document(path, text, what="run configuration")
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys arch and recipe, found a "
                          f"{type(doc.data).__name__}")
    return doc


def dump_config(config: dict) -> str:
    """`config` as config.yaml holds it (keys in order, short lists on one line)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=120)


def write_config(run_dir: str, config: dict) -> None:
    """config.yaml, atomically, under a line saying what it is."""
    atomic_write(os.path.join(run_dir, CONFIG), "# resolved configuration of this run (inception-keras)\n"
                 + dump_config(config))


def resolved_config(config: dict) -> dict:
    """A run's configuration with its `arch` and `recipe` parts resolved (every key filled, `extends`
    merged), as runs write them now: a run written by an older version, whose architecture is as written or
    whose recipe lacks keys added since, compares key for key with a new one. A part this version cannot
    read is left as it is."""
    if not isinstance(config, dict):
        return config
    out = dict(config)
    if isinstance(config.get("arch"), dict):
        try:
            out["arch"] = parse_arch(Document(None, config["arch"])).config
        except Exception:  # noqa: BLE001 - a foreign or future architecture: compared as written
            pass
    if isinstance(config.get("recipe"), dict):
        try:
            out["recipe"] = parse_recipe(Document(None, config["recipe"])).to_dict()
        except Exception:  # noqa: BLE001 - likewise
            pass
    return out


def config_documents(run_dir: str) -> tuple[Document, Document]:
    """config.yaml's `arch` and `recipe` parts as Documents whose mistakes name config.yaml's lines (`<path>
    (arch)`, `<path> (recipe)`), for the one resolver (`lang.resolve.resolve`)."""
    doc = load_config(run_dir)
    if doc is None:
        raise ConfigError(f"{run_dir}: not a run directory (no {CONFIG})")
    return doc.sub("arch", f"{doc.file} (arch)"), doc.sub("recipe", f"{doc.file} (recipe)")


# ----------------------------------------------------------------------------- comparing configurations


def same_value(a, b) -> bool:
    """The one rule for equal configuration values: mappings with the same keys and values, lists and tuples
    alike item by item, a bool equal only to a bool, numbers by value (1 and 1.0 are the same)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, (dict, list, tuple)) or isinstance(b, (dict, list, tuple)):
        return False
    return a == b


def same_config(a: dict, b: dict) -> bool:
    """The same configuration once both are as config.yaml would hold them (a YAML round trip)."""
    return same_value(yaml.safe_load(dump_config(a)), yaml.safe_load(dump_config(b)))


def differing_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two configurations (mappings followed key by key, in sorted
    order; any other value compared whole), for a message."""
    out = []
    for key in sorted(set(a) | set(b), key=str):
        va, vb = a.get(key), b.get(key)
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += differing_keys(va, vb, path)
        elif not same_value(va, vb):
            out.append(path)
    return out


def flatten(value, prefix: str = "") -> dict:
    """{'recipe': {'optimizer': {'learning_rate': 0.1}}} -> {'recipe.optimizer.learning_rate': 0.1}; lists of
    mappings (a stage's layers) by index, `arch.stages.b4[5].maxpool.size`; lists of plain values whole."""
    out = {}
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
        for i, inner in enumerate(value):
            out.update(flatten(inner, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def flat_config(config: dict) -> dict:
    """The resolved `arch` and `recipe` of a run's configuration, flattened (see `flatten`)."""
    resolved = resolved_config(config)
    return flatten({k: v for k, v in resolved.items() if k in ("arch", "recipe") and isinstance(v, dict)})


def differing(configs: list[dict | None]) -> dict[str, list]:
    """The flattened keys of `arch` and `recipe` whose values are not equal in all the runs that have a
    configuration (a key missing in one counts as different, its value `MISSING`), in order of first
    appearance; runs without a configuration get None. With fewer than two configurations, nothing differs."""
    flat = [None if c is None else flat_config(c) for c in configs]
    present = [f for f in flat if f is not None]
    if len(present) < 2:
        return {}
    keys: list[str] = []
    for f in present:
        keys += [k for k in f if k not in keys]
    out = {}
    for key in keys:
        values = [f.get(key, MISSING) for f in present]
        if all(v is not MISSING for v in values) and all(same_value(values[0], v) for v in values[1:]):
            continue
        out[key] = [None if f is None else f.get(key, MISSING) for f in flat]
    return _whole_layers(out, flat)


_LAYER_KEY = re.compile(r"^(arch\.(?:stages\.[^.\[]+|aux_heads\.[^.\[]+\.layers)\[\d+\])\.([^.]+)\.")


def _whole_layers(out: dict, flat: list) -> dict:
    """Where runs have different layers at a position (another kind, or none), one column names the layer
    kind of each run (`arch.stages.b5[2]`: avgpool / adaptive_avgpool) instead of a column per key."""
    groups: dict[str, list] = {}
    for key in out:
        m = _LAYER_KEY.match(key)
        if m:
            groups.setdefault(m.group(1), []).append(key)
    for prefix, keys in groups.items():
        kinds = [None if f is None else next((k[len(prefix) + 1:].split(".")[0] for k in f
                                              if k.startswith(prefix + ".")), MISSING) for f in flat]
        present = [k for k in kinds if k is not None]
        if all(k is not MISSING for k in present) and len(set(present)) == 1:
            continue  # the same kind everywhere: the keys that differ say what differs
        at = list(out).index(keys[0])
        rest = [(k, v) for k, v in out.items() if k not in keys]
        out = dict(rest[:at] + [(prefix, kinds)] + rest[at:])
    return out

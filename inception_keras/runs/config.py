"""Resolved configurations: a run's `config.yaml` read back with every key filled, so runs of any version
compare key for key."""
from __future__ import annotations

from inception_keras.errors import ConfigError
from inception_keras.lang.recipe import parse_recipe
from inception_keras.lang.parse import parse_arch
from inception_keras.lang.reader import Document
from inception_keras.runs import store as runs


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


def from_config(run_dir: str):
    """(spec, recipe, config) of an existing run, checked again; mistakes name config.yaml's lines."""
    doc = runs.load_config(run_dir)
    if doc is None:
        raise ConfigError(f"{run_dir}: not a run directory (no {runs.CONFIG})")
    spec = parse_arch(doc.sub("arch", f"{doc.file} (arch)"))
    recipe = parse_recipe(doc.sub("recipe", f"{doc.file} (recipe)"))
    return spec, recipe, doc.data

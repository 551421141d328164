"""Weight presets: each network's pretrained weights as their publishers give them (URL and hash).

A placeholder with the interface the zoo calls: the table and the download/convert/cache path are zoo-b's
(issue 31 item 3), which replaces this module's content.
"""
from __future__ import annotations

from inception_keras.errors import ConfigError

# network name -> [{"name": ..., "url": ..., "hash": ..., ...}]
PRESETS: dict[str, list[dict]] = {}


def presets_for(network: str) -> list[dict]:
    """The presets of a network (a shipped name), as dicts with at least name, url and hash."""
    return PRESETS.get(network, [])


def resolve_weights(network: str, weights: str) -> str:
    """The local path of the converted `.weights.h5` of `weights` (a preset name or URL) for the network's full
    model (with its top, at its default input)."""
    known = ", ".join(p["name"] for p in presets_for(network)) or "none"
    raise ConfigError(f"unknown preset '{weights}' for {network} (presets: {known}; or give a local .weights.h5 "
                      "or .keras file)")

"""A stage's items: which layer kind each one is, and the name each layer gets within its stage."""
from __future__ import annotations

from typing import Any

from inception_keras.lang.kinds import LAYER_KINDS


def local_names(items: list, templates=()) -> list[str | None]:
    """The name of each layer within its stage: an Inception block's or explicit `name`, else kind and count
    (`conv1`, `conv2`, `maxpool1`); a use of one of `templates` (names) likewise: its `name`, else template
    and count (`block_a1`); None for an item that is neither."""
    counts: dict[str, int] = {}
    out: list[str | None] = []
    for item in items if isinstance(items, list) else []:
        kind, value = split_item(item)
        if kind is None:
            kind = template_used(item, templates)
            value = item[kind] if kind is not None else None
        if kind is None:
            out.append(None)
            continue
        counts[kind] = counts.get(kind, 0) + 1
        given = value.get("name") if isinstance(value, dict) else None
        out.append(str(given) if given is not None else f"{kind}{counts[kind]}")
    return out


def template_used(item, templates) -> str | None:
    """The template an item uses (`- block_a: {pool: 32}`), or None."""
    if isinstance(item, dict) and len(item) == 1:
        (key,) = item
        if key in templates and key not in LAYER_KINDS:
            return key
    return None


def split_item(item) -> tuple[str | None, Any]:
    if isinstance(item, str) and item in LAYER_KINDS:
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        kind, value = next(iter(item.items()))
        if kind in LAYER_KINDS:
            return kind, value
    return None, None

"""What ships: every network (name, what it reproduces, input size, parameters, weight presets) and every
recipe, as `inception-keras list` prints them (text or JSON). No TensorFlow: the figures are the checker's."""
from __future__ import annotations

import json
import os
import re

from inception_keras import safeio
from inception_keras.lang import catalog
from inception_keras.lang.parse import load_arch
from inception_keras.lang.recipe import load_recipe
from inception_keras.zoo.presets import preset_dict, presets_for


def reference(path: str) -> str:
    """What the file says it is: its leading comment's first words (up to `(`, `,` or `:`) and the reference
    implementation it names first (keras.applications.X, timm's `x`, torchvision.models.x)."""
    lines = []
    for line in safeio.read_text(path, "architecture file").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(lines)
    title = re.split(r" \(|, |: ", text, maxsplit=1)[0]
    ref = re.search(r"keras\.applications\.\w+|timm's `\w+`|torchvision\.models\.\w+", text)
    out = f"{title}; {ref.group().replace('`', '')}" if ref and ref.group() not in title else title
    return out if len(out) <= 80 else out[:79].rstrip() + "…"


def networks() -> list[dict]:
    """Every shipped architecture: name, reference, input [H, W, C], classes, params, presets."""
    out = []
    for name in catalog.names(catalog.ARCH):
        path = catalog.path_of(name, catalog.ARCH)
        spec = load_arch(path)
        out.append({"name": name, "reference": reference(path), "input": list(spec.input), "classes": spec.classes,
                    "params": spec.params, "presets": [preset_dict(p) for p in presets_for(name)]})
    return out


def recipes() -> list[dict]:
    """Every shipped recipe: name, data set, epochs, batch size."""
    out = []
    for name in catalog.names(catalog.RECIPE):
        recipe = load_recipe(catalog.path_of(name, catalog.RECIPE))
        out.append({"name": name, "dataset": recipe.dataset.name or recipe.dataset.kind,
                    "epochs": recipe.epochs, "batch_size": recipe.batch_size})
    return out


def as_json() -> str:
    return json.dumps({"networks": networks(), "recipes": recipes()}, indent=2)


def as_text() -> str:
    nets, recs = networks(), recipes()
    rows = [("network", "reference", "input", "params", "presets")]
    rows += [(n["name"], n["reference"], "x".join(map(str, n["input"])), f"{n['params']:,}",
              ", ".join(p["name"] for p in n["presets"]) or "-") for n in nets]
    text = _table(rows)
    rows = [("recipe", "data", "epochs", "batch")]
    rows += [(r["name"], str(r["dataset"]), str(r["epochs"]), str(r["batch_size"])) for r in recs]
    return (f"{text}\n\n{_table(rows)}\n\nA name works wherever a file does (`summary inception_v3`, "
            f"`train --arch googlenet_quick --recipe quick`); files: {os.path.dirname(catalog.folder('arch'))}")


def _table(rows: list[tuple]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)

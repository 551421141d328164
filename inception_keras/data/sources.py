"""`open_source`: the recipe's dataset opened as IDX files, a tfds set or an image folder (dataset.kind, or what
`auto` finds), checked against the architecture's classes and cut to dataset.limit."""
from __future__ import annotations

import os

from inception_keras.data.folders import classes_error, looks_like_image_folder, open_image_folder
from inception_keras.data.idx import DEBIAN_DIRS, find_idx_dir, has_idx, open_idx
from inception_keras.data.splits import Source
from inception_keras.data.tfds_sets import open_tfds
from inception_keras.errors import ConfigError


def source_kind(ds) -> str:
    """idx, image_folder or tfds: dataset.kind, or for `auto` what dataset.path (or the Debian package) holds."""
    if ds.kind != "auto":
        return ds.kind
    if ds.path and os.path.isdir(ds.path):
        return "idx" if has_idx(ds.path) else "image_folder" if looks_like_image_folder(ds.path) else "tfds"
    if ds.name in DEBIAN_DIRS and find_idx_dir(ds)[0]:
        return "idx"
    return "tfds"


def open_source(ds, classes: int) -> Source:
    """Open the recipe's dataset (ds: recipe.Dataset) and check it against the architecture's classes."""
    if classes is None:
        raise ConfigError("the architecture is a backbone (no `classes`, no classifier head): training and "
                          "evaluating need a classifier; give the architecture classes and a head")
    kind = source_kind(ds)
    if ds.classes is not None and kind != "image_folder":
        raise classes_error(ds, f"a class subset is for image folders; this dataset is {kind} (dataset.kind)")
    if kind == "idx":
        source = open_idx(ds)
    elif kind == "image_folder":
        source = open_image_folder(ds)
    else:
        source = open_tfds(ds)
    if source.classes > classes:
        raise ConfigError(f"{source.description}: {source.classes} classes, but the architecture has "
                          f"classes: {classes} (set it in the architecture YAML or with --set arch.classes=N)")
    if ds.limit:
        for split in (source.train, source.val):
            split.count = min(split.count, ds.limit)
            if split.images is not None:
                split.images, split.labels = split.images[:ds.limit], split.labels[:ds.limit]
    return source

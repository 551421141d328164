"""tensorflow-datasets sets: downloaded and prepared by tfds, held in memory when small and of a fixed image
size (decoded below IN_MEMORY_LIMIT), else streamed example by example."""
from __future__ import annotations

import os

import numpy as np

from inception_keras.data.splits import Source, Split
from inception_keras.errors import ConfigError

IN_MEMORY_LIMIT = 2 << 30  # tfds sets smaller than this (decoded) are held in memory


def open_tfds(ds) -> Source:
    """The tfds set of the recipe's dataset (ds: recipe.Dataset); a ConfigError that says how to get it when tfds
    cannot provide it (no network, unknown name)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:  # pragma: no cover - declared dependency
        raise ConfigError(f"tensorflow-datasets is not installed: {e}") from None
    try:
        builder = tfds.builder(ds.name, data_dir=ds.path)
        builder.download_and_prepare()
    except Exception as e:  # noqa: BLE001 - tfds raises many kinds: no network, unknown name, checksum
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"tfds could not provide '{ds.name}': {text}. Download it where there is a network "
                          f"(python -c \"import tensorflow_datasets as tfds; tfds.load('{ds.name}')\") and point "
                          f"TFDS_DATA_DIR or dataset.path at it; for fashion_mnist, IDX files work too "
                          f"(--data-dir)") from None
    info = builder.info
    label = info.features["label"] if "label" in info.features else None
    names = list(label.names) if label is not None and hasattr(label, "names") else []
    image = info.features["image"]
    splits = []
    for split in (ds.train_split, ds.validation_split):
        if split not in info.splits:
            raise ConfigError(f"tfds '{ds.name}' has no split '{split}' (splits: {', '.join(info.splits)})")
        count = info.splits[split].num_examples
        if ds.limit:
            count = min(count, ds.limit)
        shape = image.shape
        fixed = all(d is not None for d in shape)
        if fixed and count * int(np.prod(shape)) < IN_MEMORY_LIMIT:
            x, y = tfds.as_numpy(builder.as_dataset(split=f"{split}[:{count}]", batch_size=-1, as_supervised=True))
            splits.append(Split(count, x.astype(np.uint8), y.astype(np.int32)))
        else:
            def stream(split=split, count=count):
                return builder.as_dataset(split=f"{split}[:{count}]", as_supervised=True, shuffle_files=False)

            splits.append(Split(count, stream=stream))
    where = ds.path or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return Source(ds.name, f"tfds '{ds.name}' {info.version} ({where})", splits[0], splits[1], names,
                  image.shape[-1])

"""Data: IDX files, tfds data sets and image folders -> tf.data pipelines.

Sources are opened first (`open_source`: numbers, names, counts, checks),
then turned into pipelines (`pipeline`) that resize to the architecture's
input, scale to [0, 1], match channels, shuffle per example, batch, prefetch.

Two routes:
- in memory (IDX files, small fixed-size tfds sets): the raw uint8 images
  stay in memory at their stored size; each batch is resized after batching,
  where one vectorized resize is cheapest, in parallel with training.
- streamed (image folders, large tfds sets): decode and resize per example,
  cache the resized uint8 images in memory, shuffle with a buffer, batch.

Auto-sharding for multi-worker training is set deliberately to DATA for
every source: in-memory tensors and image lists have no files that
tf.data's FILE policy could split, and tfds' small sets are single files.
"""
from __future__ import annotations

import gzip
import os
import random
import struct
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot"]
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEBIAN_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist", "mnist": "/usr/share/datasets/mnist"}
DATA_DIR_ENV = "INCEPTION_KERAS_DATA_DIR"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
IN_MEMORY_LIMIT = 2 << 30  # tfds sets smaller than this (decoded) are held in memory


@dataclass
class Split:
    """One split: arrays in memory, or a stream of (uint8 image, label) examples."""

    count: int
    images: np.ndarray | None = None  # uint8 [N, H, W, C]
    labels: np.ndarray | None = None  # int [N]
    stream: object = None  # callable () -> tf.data.Dataset of (uint8 image, int label)
    files: list | None = None  # image folders: [(path, label)], so that training can crop before decoding


@dataclass
class Source:
    name: str
    description: str  # where the data came from, for the log and env.json
    train: Split
    val: Split
    class_names: list
    channels: int | None  # channels of the stored images (None: decoded to the architecture's)

    @property
    def classes(self) -> int:
        return len(self.class_names)


# ----------------------------------------------------------------------------- IDX


def read_idx(path: str, ndim: int) -> np.ndarray:
    """Read one IDX file (gzipped or not); check its magic number, shape and length."""
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ConfigError(f"{path}: cannot read IDX file: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ConfigError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    if data[2] != 0x08:
        raise ConfigError(f"{path}: IDX element type 0x{data[2]:02x} is not unsigned bytes (0x08)")
    if data[3] != ndim:
        raise ConfigError(f"{path}: expected an IDX file of {ndim} dimension(s), found {data[3]} "
                          f"(magic number {struct.unpack('>I', data[:4])[0]})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ConfigError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise ConfigError(f"{path}: IDX header says {'x'.join(map(str, dims))} = {expected:,} bytes of data, "
                          f"file has {len(data) - header:,} (truncated or corrupt)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _idx_file(directory: str, stem: str) -> str | None:
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def has_idx(directory: str | None) -> bool:
    return bool(directory) and all(_idx_file(directory, stem) for pair in IDX_FILES.values() for stem in pair)


def read_idx_split(directory: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_stem, labels_stem = IDX_FILES[split]
    missing = [s for s in (images_stem, labels_stem) if not _idx_file(directory, s)]
    if missing:
        raise ConfigError(f"{directory}: missing IDX file(s) {', '.join(m + '[.gz]' for m in missing)}")
    images = read_idx(_idx_file(directory, images_stem), 3)
    labels = read_idx(_idx_file(directory, labels_stem), 1)
    if len(images) != len(labels):
        raise ConfigError(f"{directory}: {split} split has {len(images):,} images but {len(labels):,} labels")
    return images[..., None], labels.astype(np.int32)


def find_idx_dir(ds) -> tuple[str | None, str]:
    """The IDX directory to use for this dataset, and why (or None)."""
    if ds.path:
        return ds.path, "dataset.path / --data-dir"
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return env, f"${DATA_DIR_ENV}"
    debian = DEBIAN_DIRS.get(ds.name)
    if debian and has_idx(debian):
        return debian, "Debian package"
    return None, ""


# ----------------------------------------------------------------------------- sources


def open_source(ds, classes: int) -> Source:
    """Open the recipe's dataset (ds: recipe.Dataset) and check it against the architecture's classes."""
    kind = ds.kind
    if kind == "auto":
        if ds.path and os.path.isdir(ds.path):
            kind = "idx" if has_idx(ds.path) else "image_folder" if _looks_like_image_folder(ds.path) else "tfds"
        elif ds.name in DEBIAN_DIRS and find_idx_dir(ds)[0]:
            kind = "idx"
        else:
            kind = "tfds"
    if kind == "idx":
        source = _open_idx(ds)
    elif kind == "image_folder":
        source = _open_image_folder(ds)
    else:
        source = _open_tfds(ds)
    if source.classes > classes:
        raise ConfigError(f"{source.description}: {source.classes} classes, but the architecture has "
                          f"classes: {classes} (set it in the architecture YAML or with --set arch.classes=N)")
    if ds.limit:
        for split in (source.train, source.val):
            split.count = min(split.count, ds.limit)
            if split.images is not None:
                split.images, split.labels = split.images[:ds.limit], split.labels[:ds.limit]
    return source


def _open_idx(ds) -> Source:
    directory, why = find_idx_dir(ds)
    if not directory:
        raise ConfigError(f"dataset '{ds.name}': no IDX directory (set dataset.path, --data-dir or ${DATA_DIR_ENV}, "
                          f"or install Debian's dataset-fashion-mnist)")
    if not os.path.isdir(directory):
        raise ConfigError(f"{directory}: IDX directory not found ({why})")
    xtr, ytr = read_idx_split(directory, "train")
    xte, yte = read_idx_split(directory, "test")
    names = FASHION_MNIST_CLASSES if ds.name == "fashion_mnist" else [str(i) for i in range(int(max(ytr.max(),
                                                                                                 yte.max())) + 1)]
    for split, y in (("train", ytr), ("test", yte)):
        if len(y) and (y.min() < 0 or y.max() >= len(names)):
            raise ConfigError(f"{directory}: {split} labels range {y.min()}..{y.max()}, expected 0..{len(names) - 1}")
    return Source(ds.name, f"IDX files in {directory} ({why})", Split(len(xtr), xtr, ytr),
                  Split(len(xte), xte, yte), names, 1)


def _open_tfds(ds) -> Source:
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:  # pragma: no cover - declared dependency
        raise ConfigError(f"tensorflow-datasets is not installed: {e}") from None
    try:
        builder = tfds.builder(ds.name, data_dir=ds.path)
        builder.download_and_prepare()
    except Exception as e:  # tfds raises many kinds: no network, unknown name, checksum
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


def _looks_like_image_folder(path: str) -> bool:
    try:
        return any(e.is_dir() for e in os.scandir(path))
    except OSError:
        return False


def _class_files(root: str) -> dict[str, list[str]]:
    out = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith("."):
            files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(entry.path) for f in fs
                           if f.lower().endswith(IMAGE_EXTENSIONS))
            out[entry.name] = files
    return out


def _check_images(files: list[str]) -> None:
    for path in files:
        try:
            with open(path, "rb") as f:
                head = f.read(8)
        except OSError as e:
            raise ConfigError(f"{path}: unreadable image: {e}") from None
        if not any(head.startswith(m) for m in IMAGE_MAGIC):
            raise ConfigError(f"{path}: not a JPEG, PNG, GIF or BMP image (starts with {head[:8].hex() or 'nothing'})")


def _open_image_folder(ds) -> Source:
    root = ds.path
    if not os.path.isdir(root):
        raise ConfigError(f"{root}: image folder not found")
    sub = {name: os.path.join(root, name) for name in ("train", "val", "validation")
           if os.path.isdir(os.path.join(root, name))}
    if "train" in sub and ("val" in sub or "validation" in sub):
        train = _class_files(sub["train"])
        val_root = sub.get("val", sub.get("validation"))
        val = _class_files(val_root)
        if set(train) != set(val):
            only_t = sorted(set(train) - set(val))
            only_v = sorted(set(val) - set(train))
            raise ConfigError(f"{root}: the classes differ between train/ and {os.path.basename(val_root)}/: "
                              + "; ".join(x for x in (f"only in train: {', '.join(only_t)}" if only_t else "",
                                                      f"only in {os.path.basename(val_root)}: {', '.join(only_v)}"
                                                      if only_v else "") if x))
        how = f"train/ and {os.path.basename(val_root)}/"
    else:
        every = _class_files(root)
        rng = random.Random(0)
        train, val = {}, {}
        for name, files in every.items():
            files = list(files)
            rng.shuffle(files)
            n_val = int(round(len(files) * ds.validation_fraction))
            if ds.validation_fraction > 0 and len(files) > 1:
                n_val = max(n_val, 1)
            val[name], train[name] = sorted(files[:n_val]), sorted(files[n_val:])
        how = f"{ds.validation_fraction:g} of each class held out for validation"
    names = sorted(train)
    if not names:
        raise ConfigError(f"{root}: no class folders (expected one subfolder of images per class, or train/ and "
                          f"val/ subtrees of them)")
    empty = [n for n in names if not train[n]]
    if empty:
        raise ConfigError(f"{root}: no images ({', '.join(IMAGE_EXTENSIONS)}) for class(es): {', '.join(empty)}")
    splits = []
    for per_class in (train, val):
        files = [(f, names.index(n)) for n in names for f in per_class[n]]
        _check_images([f for f, _ in files])
        if ds.limit:
            files = files[:ds.limit] if per_class is val else _interleave(files)[:ds.limit]
        splits.append(Split(len(files), stream=_folder_stream(files), files=files))
    if splits[1].count == 0:
        raise ConfigError(f"{root}: no validation images ({how})")
    return Source(os.path.basename(os.path.normpath(root)), f"image folder {root} ({how})", splits[0], splits[1],
                  names, None)


def _interleave(files):
    """Round-robin over classes, so a --limit keeps every class."""
    by_class: dict = {}
    for f, c in files:
        by_class.setdefault(c, []).append((f, c))
    out = []
    while any(by_class.values()):
        for c in list(by_class):
            if by_class[c]:
                out.append(by_class[c].pop(0))
    return out


def _folder_stream(files):
    def stream(channels=3):
        import tensorflow as tf

        paths = tf.constant([f for f, _ in files])
        labels = tf.constant([c for _, c in files], dtype=tf.int32)

        def decode(path, label):
            return _decode(tf, tf.io.read_file(path), channels), label

        return tf.data.Dataset.from_tensor_slices((paths, labels)).map(decode, num_parallel_calls=tf.data.AUTOTUNE)

    return stream


def _decode(tf, contents, channels: int):
    return tf.io.decode_image(contents, channels=channels, expand_animations=False)


# ----------------------------------------------------------------------------- pipelines

RESIZE_METHODS = ("bilinear", "area", "nearest", "bicubic")  # the paper's random interpolation


def channel_note(stored: int | None, wanted: int) -> str | None:
    if stored is None or stored == wanted:
        return None
    if stored == 1 and wanted == 3:
        return "images have 1 channel, the architecture 3: grey copied to R, G and B"
    if stored == 3 and wanted == 1:
        return "images have 3 channels, the architecture 1: converted to grey (ITU-R 601 luma)"
    raise ConfigError(f"images have {stored} channels and the architecture {wanted}: only 1 <-> 3 is converted")


def _to_channels(tf, x, wanted: int):
    have = x.shape[-1]
    if have == wanted:
        return x
    if have == 1 and wanted == 3:
        return tf.image.grayscale_to_rgb(x)
    return tf.image.rgb_to_grayscale(x)


def _crop_to_square(tf, x, fraction: float = 1.0):
    """The central square, its side `fraction` of the shorter side."""
    h, w = tf.shape(x)[-3], tf.shape(x)[-2]
    s = tf.minimum(h, w)
    if fraction != 1.0:
        s = tf.maximum(1, tf.cast(tf.round(tf.cast(s, tf.float32) * fraction), tf.int32))
    return tf.image.crop_to_bounding_box(x, (h - s) // 2, (w - s) // 2, s, s)


def _random_pairs(tf, seed: int, stream: int):
    """Seeds for stateless random ops, one [2] int64 tensor per element: reproducible from `seed`, new every
    epoch (every iteration of the data set), independent of how tf.data schedules its parallel calls."""
    return tf.data.Dataset.random(seed=seed * 4 + stream, rerandomize_each_iteration=True).batch(2)


def _resize_one(tf, image, size, pick=None):
    """One image to `size` as uint8: bilinear, or with `pick` in [0, 1) one of RESIZE_METHODS."""
    image = tf.cast(image, tf.float32)
    if pick is None:
        out = tf.image.resize(image, size, method="bilinear")
    else:
        index = tf.minimum(tf.cast(pick * len(RESIZE_METHODS), tf.int32), len(RESIZE_METHODS) - 1)
        out = tf.switch_case(index, [lambda m=m: tf.image.resize(image, size, method=m) for m in RESIZE_METHODS])
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)


def _cropper(tf, crop, size, flip: bool):
    """(decoded uint8 image, seed) -> a random resized crop at `size`, uint8, mirrored with probability 0.5 when
    `flip`; and the same from encoded bytes, where JPEGs decode only the crop window."""
    from .augment import CROP_DRAWS, crop_boxes

    random_method = crop.interpolation == "random"

    def draws(seed):
        return tf.random.stateless_uniform([CROP_DRAWS + 2], seed=seed)

    def finish(image, u):
        if flip:  # on the crop, before resizing: the fewest pixels
            image = tf.cond(u[CROP_DRAWS + 1] < 0.5, lambda: tf.reverse(image, [1]), lambda: image)
        return _resize_one(tf, image, size, u[CROP_DRAWS] if random_method else None)

    def box(u, height, width):
        top, left, h, w = crop_boxes(u[None, :CROP_DRAWS], height, width, crop.scale, crop.ratio)
        return tf.cast(tf.stack([top[0], left[0], h[0], w[0]]), tf.int32)

    def from_image(image, seed):
        u = draws(seed)
        shape = tf.shape(image)
        b = box(u, shape[0], shape[1])
        return finish(tf.slice(image, [b[0], b[1], 0], [b[2], b[3], -1]), u)

    def from_bytes(contents, seed, channels):
        u = draws(seed)

        def jpeg():
            shape = tf.io.extract_jpeg_shape(contents)
            return tf.image.decode_and_crop_jpeg(contents, box(u, shape[0], shape[1]), channels=channels)

        def other():
            image = _decode(tf, contents, channels)
            shape = tf.shape(image)
            b = box(u, shape[0], shape[1])
            return tf.slice(image, [b[0], b[1], 0], [b[2], b[3], -1])

        return finish(tf.cond(tf.io.is_jpeg(contents), jpeg, other), u)

    return from_image, from_bytes


def pipeline(split: Split, input_shape: tuple, batch: int, training: bool, seed: int = 0, outputs: tuple | None = None,
             num_classes: int | None = None, one_hot: bool = False, resize: str = "resize",
             shuffle_buffer: int = 10000, cache: bool = True, stored_channels: int | None = None,
             augment=None, crop_fraction: float = 1.0, shuffle: bool = True):
    """A batched tf.data.Dataset of (float32 images in [0, 1] at `input_shape`, labels).

    Labels are a dict {output: labels} when `outputs` names more than one output (auxiliary heads), else plain.
    `augment` (recipe.Augment) applies to training data only, drawn from `seed`; `shuffle=False` keeps the
    stored order (`show`).
    """
    import tensorflow as tf

    from .augment import Augmenter, tf_augment

    height, width, channels = input_shape
    AUTOTUNE = tf.data.AUTOTUNE
    shuffle = training and shuffle
    augment = augment if training and augment is not None and augment.names else None
    crop_each = augment is not None and augment.crop is not None and split.images is None
    augmenter = Augmenter(augment, input_shape, seed, crop_in_batch=not crop_each) if augment else None
    if augmenter is not None and not augmenter.draws:
        augmenter = None

    def augmented(ds, finish):
        """`finish(x, y, seed or None)` mapped over batches, with a seed per batch when augmenting."""
        if augmenter is None:
            return ds.map(lambda x, y: finish(x, y, None), num_parallel_calls=AUTOTUNE)
        ds = tf.data.Dataset.zip((ds, _random_pairs(tf, seed, 1)))
        return ds.map(lambda xy, s: finish(xy[0], xy[1], s), num_parallel_calls=AUTOTUNE)

    def to_float(x, s):
        x = tf.cast(x, tf.float32) / 255.0
        return tf_augment(augmenter, x, s) if s is not None else x

    def finish_labels(y):
        y = tf.cast(y, tf.int32)
        if one_hot:
            y = tf.one_hot(y, num_classes)
        if outputs and len(outputs) > 1:
            return {name: y for name in outputs}
        return y

    if split.images is not None:
        ds = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
        if shuffle:
            ds = ds.shuffle(len(split.images), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch)

        def prep(x, y, s):
            x = tf.cast(_to_channels(tf, x, channels), tf.float32)
            if resize == "crop":
                x = _crop_to_square(tf, x, crop_fraction)
            if resize == "crop" and crop_fraction != 1.0 or tuple(split.images.shape[1:3]) != (height, width):
                x = tf.image.resize(x, (height, width), method="bilinear")
            return to_float(x, s), finish_labels(y)

        ds = augmented(ds, prep)
    elif crop_each:
        # Random resized crops come from the stored image, before it is resized: decode and crop every epoch.
        from_image, from_bytes = _cropper(tf, augment.crop, (height, width), augment.flip)
        if split.files is not None:  # image folders: shuffle the file list, keep the encoded bytes (cache)
            ds = tf.data.Dataset.from_tensor_slices(([f for f, _ in split.files],
                                                     tf.constant([c for _, c in split.files], tf.int32)))
            if cache:
                ds = ds.map(lambda p, y: (tf.io.read_file(p), y), num_parallel_calls=AUTOTUNE).cache()
            if shuffle:
                ds = ds.shuffle(split.count, seed=seed, reshuffle_each_iteration=True)
            read = (lambda p: p) if cache else tf.io.read_file
            ds = tf.data.Dataset.zip((ds, _random_pairs(tf, seed, 2)))
            ds = ds.map(lambda py, s: (from_bytes(read(py[0]), s, channels), py[1]), num_parallel_calls=AUTOTUNE)
        else:  # decoded examples (tfds): crop, then shuffle the crops
            ds = split.stream() if stored_channels is not None else split.stream(channels=channels)
            ds = tf.data.Dataset.zip((ds, _random_pairs(tf, seed, 2)))
            ds = ds.map(lambda xy, s: (from_image(_to_channels(tf, xy[0], channels), s), xy[1]),
                        num_parallel_calls=AUTOTUNE)
            if shuffle:
                ds = ds.shuffle(min(shuffle_buffer, split.count), seed=seed, reshuffle_each_iteration=True)
        ds = augmented(ds.batch(batch), lambda x, y, s: (to_float(x, s), finish_labels(y)))
    else:
        ds = split.stream() if stored_channels is not None else split.stream(channels=channels)

        def prep_one(x, y):
            x = _to_channels(tf, x, channels)
            if resize == "crop":
                x = _crop_to_square(tf, x, crop_fraction)
            x = tf.image.resize(x, (height, width), method="bilinear")
            return tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8), y

        ds = ds.map(prep_one, num_parallel_calls=AUTOTUNE)
        if cache:
            ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(min(shuffle_buffer, split.count), seed=seed, reshuffle_each_iteration=True)
        ds = augmented(ds.batch(batch), lambda x, y, s: (to_float(x, s), finish_labels(y)))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.prefetch(AUTOTUNE).with_options(options)

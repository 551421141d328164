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
import zlib
from dataclasses import dataclass

import numpy as np

from inception_keras.errors import ConfigError

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


MAX_IDX_BYTES = 16 << 30  # an IDX header that promises more is not a data set this tool can hold


def read_idx(path: str, ndim: int) -> np.ndarray:
    """Read one IDX file (gzipped or not); check its magic number, shape and length. The header is read
    first and only the bytes it promises after it, so a wrong header or a gzip bomb cannot exhaust memory."""
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
                raise ConfigError(f"{path}: not an IDX file (bad magic number {magic.hex() or 'empty'})")
            if magic[2] != 0x08:
                raise ConfigError(f"{path}: IDX element type 0x{magic[2]:02x} is not unsigned bytes (0x08)")
            if magic[3] != ndim:
                raise ConfigError(f"{path}: expected an IDX file of {ndim} dimension(s), found {magic[3]} "
                                  f"(magic number {struct.unpack('>I', magic)[0]})")
            head = f.read(4 * ndim)
            if len(head) < 4 * ndim:
                raise ConfigError(f"{path}: truncated IDX header")
            dims = struct.unpack(f">{ndim}I", head)
            expected = 1
            for d in dims:
                expected *= d  # Python integers: no overflow
            shape = "x".join(map(str, dims))
            if expected == 0:
                raise ConfigError(f"{path}: the IDX header says {shape}: no examples")
            if expected > MAX_IDX_BYTES:
                raise ConfigError(f"{path}: the IDX header says {shape} = {expected:,} bytes, more than "
                                  f"{MAX_IDX_BYTES:,}: not a data set this tool can hold (corrupt header?)")
            data = f.read(expected + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise ConfigError(f"{path}: cannot read IDX file: {e}") from None
    if len(data) != expected:
        more = len(data) > expected
        raise ConfigError(f"{path}: IDX header says {shape} = {expected:,} bytes of data, file has "
                          f"{'more' if more else f'{len(data):,}'} (truncated or corrupt)")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


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


def find_unreadable(source, limit: int = 100_000) -> str | None:
    """After the input pipeline failed: the first image of an image folder that does not decode, named (at
    most `limit` files are opened; in-memory data sets have no files)."""
    from PIL import Image

    for split in (source.train, source.val):
        for path, _ in (split.files or [])[:limit]:
            try:
                with Image.open(path) as image:
                    image.load()
            except Exception as e:  # noqa: BLE001 - PIL raises many kinds for a broken file
                return f"{path}: the image does not decode ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    return None


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


def _opencv_taps(tf, src, dst, clamp: bool):
    """Source indices and 11-bit fixed-point weights of OpenCV's INTER_LINEAR along one axis (src -> dst)."""
    d = tf.range(dst, dtype=tf.float64)
    f = tf.cast((d + 0.5) * (tf.cast(src, tf.float64) / tf.cast(dst, tf.float64)) - 0.5, tf.float32)
    s = tf.floor(f)
    f = f - s
    s = tf.cast(s, tf.int32)
    if clamp:  # columns: the weight goes to the edge pixel; rows keep theirs and clip the index
        f = tf.where((s < 0) | (s >= src - 1), tf.zeros_like(f), f)
        s = tf.clip_by_value(s, 0, src - 1)
    w0 = tf.cast(tf.round((1.0 - f) * 2048.0), tf.int32)
    w1 = tf.cast(tf.round(f * 2048.0), tf.int32)
    return tf.clip_by_value(s, 0, src - 1), tf.clip_by_value(s + 1, 0, src - 1), w0, w1


def opencv_resize(tf, x, height: int, width: int):
    """uint8 [..., h, w, c] -> uint8 [..., height, width, c], bit for bit what MXNet's
    `gluon.data.vision.transforms.Resize` returns (OpenCV 3's cv2.resize, INTER_LINEAR, 8-bit: weights in
    11-bit fixed point, rows by the SSE2 path's 16-bit multiply-high, the result rounded to uint8).
    Checked on all 10,000 Fashion-MNIST test images at 96x96 (docs/fidelity.md)."""
    shape = tf.shape(x)
    h, w = shape[-3], shape[-2]
    x = tf.cast(x, tf.int32)
    c0, c1, a0, a1 = _opencv_taps(tf, w, width, clamp=True)
    r0, r1, b0, b1 = _opencv_taps(tf, h, height, clamp=False)
    rows = tf.gather(x, c0, axis=-2) * a0[:, None] + tf.gather(x, c1, axis=-2) * a1[:, None]
    s0 = tf.bitwise.right_shift(tf.gather(rows, r0, axis=-3), 4)
    s1 = tf.bitwise.right_shift(tf.gather(rows, r1, axis=-3), 4)
    y = (tf.bitwise.right_shift(s0 * b0[:, None, None], 16) + tf.bitwise.right_shift(s1 * b1[:, None, None], 16))
    return tf.cast(tf.clip_by_value(tf.bitwise.right_shift(y + 2, 2), 0, 255), tf.uint8)


def _crop_to_square(tf, x, fraction: float = 1.0):
    """The central square, its side `fraction` of the shorter side."""
    h, w = tf.shape(x)[-3], tf.shape(x)[-2]
    s = tf.minimum(h, w)
    if fraction != 1.0:
        s = tf.maximum(1, tf.cast(tf.round(tf.cast(s, tf.float32) * fraction), tf.int32))
    return tf.image.crop_to_bounding_box(x, (h - s) // 2, (w - s) // 2, s, s)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's shuffling and augmentation: a resumed run draws epoch k as the uninterrupted run
    did."""
    return seed * 1_000_003 + epoch


def _random_pairs(tf, seed: int, stream: int, epoch: int | None = None):
    """Seeds for stateless random ops, one [2] int64 tensor per element: reproducible from `seed` (and the
    epoch's number when given), new every epoch, independent of how tf.data schedules its parallel calls."""
    if epoch is None:
        return tf.data.Dataset.random(seed=seed * 4 + stream, rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.random(seed=epoch_seed(seed, epoch) * 4 + stream, rerandomize_each_iteration=False).batch(2)


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
    from inception_keras.data.augment import CROP_DRAWS, crop_boxes

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
             partial_batch: str = "mean", augment=None, crop_fraction: float = 1.0, shuffle: bool = True):
    """A batched tf.data.Dataset of (float32 images in [0, 1] at `input_shape`, labels).

    Labels are a dict {output: labels} when `outputs` names more than one output (auxiliary heads), else plain.
    Training data is shuffled and augmented anew at every iteration; `Pipeline.epoch(e)` gives one epoch's
    dataset instead, drawn from the epoch's own seed (what training uses, so that a resumed run sees what the
    uninterrupted one saw). `augment` (recipe.Augment) applies to training data only; `shuffle=False` keeps
    the stored order (`show`). `partial_batch="divide_by_batch_size"` adds sample weights n / batch to every
    example of a batch of n: Keras' mean loss over the batch becomes its summed loss divided by `batch`
    (d2l's trainer.step(batch_size)); weights 1 on full batches.
    """
    p = Pipeline(split, input_shape, batch, seed, outputs, num_classes, one_hot, resize, shuffle_buffer, cache,
                 stored_channels, partial_batch, augment if training else None, crop_fraction)
    return p.epoch(None, shuffle=shuffle) if training else p.validation()


class Pipeline:
    """One split's examples, decoded (and, for streams, cached) once; datasets over them per epoch."""

    def __init__(self, split: Split, input_shape: tuple, batch: int, seed: int = 0, outputs: tuple | None = None,
                 num_classes: int | None = None, one_hot: bool = False, resize: str = "resize",
                 shuffle_buffer: int = 10000, cache: bool = True, stored_channels: int | None = None,
                 partial_batch: str = "mean", augment=None, crop_fraction: float = 1.0):
        import tensorflow as tf

        from inception_keras.data.augment import Augmenter

        if partial_batch not in ("mean", "divide_by_batch_size"):
            raise ValueError(f"partial_batch must be 'mean' or 'divide_by_batch_size', got {partial_batch!r}")
        self.split, self.input_shape, self.batch, self.seed = split, tuple(input_shape), batch, seed
        self.outputs, self.num_classes, self.one_hot, self.resize = outputs, num_classes, one_hot, resize
        self.stored_channels, self.partial_batch, self.crop_fraction = stored_channels, partial_batch, crop_fraction
        self.augment = augment if augment is not None and augment.names else None
        # random resized crops come from the stored image, before it is resized: decoded anew every epoch
        self.crop_each = self.augment is not None and self.augment.crop is not None and split.images is None
        self.augmenter = (Augmenter(self.augment, input_shape, seed, crop_in_batch=not self.crop_each)
                          if self.augment else None)
        if self.augmenter is not None and not self.augmenter.draws:
            self.augmenter = None
        self.buffer = len(split.images) if split.images is not None else min(shuffle_buffer, split.count)
        if split.images is not None:
            self.base = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
        elif self.crop_each and split.files is not None:  # image folders: the file list, encoded bytes cached
            self.base = tf.data.Dataset.from_tensor_slices(([f for f, _ in split.files],
                                                            tf.constant([c for _, c in split.files], tf.int32)))
            if cache:
                self.base = self.base.map(lambda f, y: (tf.io.read_file(f), y),
                                          num_parallel_calls=tf.data.AUTOTUNE).cache()
            self.read = (lambda f: f) if cache else tf.io.read_file
            self.buffer = split.count
        elif self.crop_each:  # decoded examples (tfds): cropped as they stream
            self.base = self._stream()
        else:
            self.base = self._resized(cache)

    def _stream(self):
        channels = self.input_shape[2]
        return self.split.stream() if self.stored_channels is not None else self.split.stream(channels=channels)

    def _resized(self, cache: bool):
        """A stream decoded and resized to the input as uint8, cached: one cache shared by every epoch."""
        import tensorflow as tf

        height, width, channels = self.input_shape
        resize, fraction = self.resize, self.crop_fraction

        def prep_one(x, y):
            x = _to_channels(tf, x, channels)
            if resize == "opencv":
                return opencv_resize(tf, x, height, width), y
            if resize == "crop":
                x = _crop_to_square(tf, x, fraction)
            x = tf.image.resize(x, (height, width), method="bilinear")
            return tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8), y

        ds = self._stream().map(prep_one, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.cache() if cache else ds

    def epoch(self, epoch: int | None, shuffle: bool = True):
        """Training data of one epoch, shuffled and augmented from `epoch_seed`; None: anew at every iteration."""
        import tensorflow as tf

        def shuffled(ds):
            if not shuffle:
                return ds
            if epoch is None:
                return ds.shuffle(self.buffer, seed=self.seed, reshuffle_each_iteration=True)
            return ds.shuffle(self.buffer, seed=epoch_seed(self.seed, epoch), reshuffle_each_iteration=False)

        channels = self.input_shape[2]
        if self.crop_each:
            from_image, from_bytes = _cropper(tf, self.augment.crop, self.input_shape[:2], self.augment.flip)
            pairs = _random_pairs(tf, self.seed, 2, epoch)
            if self.split.files is not None:
                ds = tf.data.Dataset.zip((shuffled(self.base), pairs))
                ds = ds.map(lambda fy, s: (from_bytes(self.read(fy[0]), s, channels), fy[1]),
                            num_parallel_calls=tf.data.AUTOTUNE)
            else:
                ds = tf.data.Dataset.zip((self.base, pairs))
                ds = shuffled(ds.map(lambda xy, s: (from_image(_to_channels(tf, xy[0], channels), s), xy[1]),
                                     num_parallel_calls=tf.data.AUTOTUNE))
            return self._finish(ds, epoch, augment=True)
        return self._finish(shuffled(self.base), epoch, augment=True)

    def validation(self):
        return self._finish(self.base, None, augment=False)

    def _finish(self, ds, epoch: int | None, augment: bool):
        """Batches, [0, 1] floats (resized here for in-memory images), augmentation, labels, weights."""
        import tensorflow as tf

        from inception_keras.data.augment import tf_augment

        height, width, channels = self.input_shape
        in_memory = self.split.images is not None
        stored = tuple(self.split.images.shape[1:3]) if in_memory else None
        resize, batch, fraction = self.resize, self.batch, self.crop_fraction
        augmenter = self.augmenter if augment else None

        def finish_labels(y):
            y = tf.cast(y, tf.int32)
            if self.one_hot:
                y = tf.one_hot(y, self.num_classes)
            if self.outputs and len(self.outputs) > 1:
                return {name: y for name in self.outputs}
            return y

        def to_float(x, s):
            x = tf.cast(x, tf.float32) / 255.0
            return tf_augment(augmenter, x, s) if s is not None else x

        def prep(x, y, s):
            if not in_memory:  # streams were resized (and cached) as uint8 already
                return to_float(x, s), finish_labels(y)
            x = _to_channels(tf, x, channels)
            if resize == "opencv":
                return to_float(opencv_resize(tf, x, height, width) if stored != (height, width) else x, s), \
                    finish_labels(y)
            x = tf.cast(x, tf.float32)
            if resize == "crop":
                x = _crop_to_square(tf, x, fraction)
            if resize == "crop" and fraction != 1.0 or stored != (height, width):
                x = tf.image.resize(x, (height, width), method="bilinear")
            return to_float(x, s), finish_labels(y)

        ds = ds.batch(batch)
        if augmenter is None:
            ds = ds.map(lambda x, y: prep(x, y, None), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = tf.data.Dataset.zip((ds, _random_pairs(tf, self.seed, 1, epoch)))
            ds = ds.map(lambda xy, s: prep(xy[0], xy[1], s), num_parallel_calls=tf.data.AUTOTUNE)
        if augment and self.partial_batch == "divide_by_batch_size":
            def weights(x, y):
                n = tf.shape(x)[0]
                return x, y, tf.fill([n], tf.cast(n, tf.float32) / float(batch))

            ds = ds.map(weights, num_parallel_calls=tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.prefetch(tf.data.AUTOTUNE).with_options(options)

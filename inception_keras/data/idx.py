"""IDX files (the MNIST format, gzipped or not): read with every header checked, found in dataset.path,
$INCEPTION_KERAS_DATA_DIR or Debian's dataset packages, opened into a Source held in memory."""
from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from inception_keras import safeio
from inception_keras.data.splits import Source, Split
from inception_keras.errors import ConfigError

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot"]
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEBIAN_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist", "mnist": "/usr/share/datasets/mnist"}
DATA_DIR_ENV = "INCEPTION_KERAS_DATA_DIR"
MAX_IDX_BYTES = safeio.LIMITS["idx"]  # an IDX header that promises more is not a data set this tool can hold


def read_idx(path: str, ndim: int) -> np.ndarray:
    """Read one IDX file (gzipped or not); check its magic number, shape and length. The header is read
    first and only the bytes it promises after it, so a wrong header or a gzip bomb cannot exhaust memory."""
    try:
        raw = safeio.open_binary(path, "IDX file", safeio.LIMITS["idx"])  # a FIFO is refused, never waited on
        with raw, (gzip.GzipFile(fileobj=raw, mode="rb") if path.endswith(".gz") else raw) as f:
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
            data = _read_at_most(f, expected + 1)  # in pieces: read(n) would reserve n bytes for a lying header
    except (OSError, EOFError, zlib.error) as e:
        raise ConfigError(f"{path}: cannot read IDX file: {e}") from None
    if len(data) != expected:
        more = len(data) > expected
        raise ConfigError(f"{path}: IDX header says {shape} = {expected:,} bytes of data, file has "
                          f"{'more' if more else f'{len(data):,}'} (truncated or corrupt)")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _read_at_most(f, n: int, piece: int = 4 << 20) -> bytes:
    """Up to `n` bytes of `f`, read in pieces, so that memory follows the file's real length, not `n`."""
    chunks, size = [], 0
    while size < n:
        chunk = f.read(min(piece, n - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


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


def open_idx(ds) -> Source:
    """The IDX files of the recipe's dataset (ds: recipe.Dataset), in memory: one channel, uint8."""
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


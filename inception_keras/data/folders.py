"""Image folders: one subfolder of images per class, with train/ and val/ (or validation/) subtrees or a fraction
of every class held out; the files are listed and checked here, decoded by the pipeline as they stream."""
from __future__ import annotations

import os
import random

from inception_keras import safeio
from inception_keras.data.images import decode
from inception_keras.data.splits import Source, Split
from inception_keras.errors import ConfigError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def looks_like_image_folder(path: str) -> bool:
    """Whether `path` has subfolders (dataset.kind: auto takes such a directory for an image folder)."""
    try:
        return any(e.is_dir() for e in os.scandir(path))
    except OSError:
        return False


def class_files(root: str) -> dict[str, list[str]]:
    """{class folder: its image files, sorted}, the class folders in sorted order (their order is the labels')."""
    out = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith("."):
            files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(entry.path) for f in fs
                           if f.lower().endswith(IMAGE_EXTENSIONS))
            out[entry.name] = files
    return out


def _check_images(files: list[str]) -> None:
    """Every file a regular file (a FIFO would hang the pipeline) that starts as an image and whose header
    declares no more than safeio.MAX_PIXELS decoded bytes."""
    for path in files:
        try:
            with safeio.open_binary(path, "image", safeio.LIMITS["image"]) as f:
                head = f.read(8)
                if any(head.startswith(m) for m in IMAGE_MAGIC):
                    f.seek(0)
                    check_image_header(path, f, strict=False)  # a broken one is named by the pipeline, as before
        except ConfigError as e:
            raise ConfigError(f"{path}: unreadable image: {e.problems[0].message if e.problems else e}") from None
        except OSError as e:
            raise ConfigError(f"{path}: unreadable image: {e}") from None
        if not any(head.startswith(m) for m in IMAGE_MAGIC):
            raise ConfigError(f"{path}: not a JPEG, PNG, GIF or BMP image (starts with {head[:8].hex() or 'nothing'})")


def check_image_header(path: str, source, strict: bool = True) -> None:
    """Refuse an image (bytes or a binary file) whose header declares more decoded bytes (width x height x
    channels x sample size x frames) than safeio.MAX_PIXELS, before anything is decoded; a header PIL cannot
    read is refused too (`strict`) or passed over, for the decoder to name."""
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's DecompressionBombWarning: the check below decides
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
                width, height = image.size
                depth = 2 if "16" in image.mode else 4 if image.mode in ("I", "F") else 1
                frames = image.n_frames if getattr(image, "is_animated", False) else 1
                channels = (4 if image.mode in ("P", "PA") else len(image.getbands())) * depth  # a palette: RGBA
    except Image.DecompressionBombError as e:  # more pixels than PIL opens at all: the same refusal, PIL's count
        raise ConfigError(f"{path}: {str(e).split(',')[0]}; refused (an image may decode to at most "
                          f"{safeio.MAX_PIXELS:,} bytes)") from None
    except Image.UnidentifiedImageError:
        if not strict:
            return
        raise ConfigError(f"{path}: cannot decode the image (its header is not one PIL can read)") from None
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds for a broken header
        if not strict:
            return
        raise ConfigError(f"{path}: cannot decode the image ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
                          ) from None
    safeio.check_image_size(path, width, height, channels, frames)


def _subtrees(root: str, val_root: str) -> tuple[dict, dict, str]:
    """train/ and val/ (or validation/): ({class: files} for each, how the split was made)."""
    train = class_files(os.path.join(root, "train"))
    val = class_files(val_root)
    if set(train) != set(val):
        only_t = sorted(set(train) - set(val))
        only_v = sorted(set(val) - set(train))
        raise ConfigError(f"{root}: the classes differ between train/ and {os.path.basename(val_root)}/: "
                          + "; ".join(x for x in (f"only in train: {', '.join(only_t)}" if only_t else "",
                                                  f"only in {os.path.basename(val_root)}: {', '.join(only_v)}"
                                                  if only_v else "") if x))
    return train, val, f"train/ and {os.path.basename(val_root)}/"


def _held_out(root: str, fraction: float) -> tuple[dict, dict, str]:
    """One tree of class folders: `fraction` of each class (at least one image when there are two) held out for
    validation, drawn with a fixed seed."""
    every = class_files(root)
    rng = random.Random(0)
    train, val = {}, {}
    for name, files in every.items():
        files = list(files)
        rng.shuffle(files)
        n_val = int(round(len(files) * fraction))
        if fraction > 0 and len(files) > 1:
            n_val = max(n_val, 1)
        val[name], train[name] = sorted(files[:n_val]), sorted(files[n_val:])
    return train, val, f"{fraction:g} of each class held out for validation"


def open_image_folder(ds) -> Source:
    """The image folder of the recipe's dataset (ds: recipe.Dataset): streamed splits that keep their file lists."""
    root = ds.path
    if not os.path.isdir(root):
        raise ConfigError(f"{root}: image folder not found")
    sub = {name: os.path.join(root, name) for name in ("train", "val", "validation")
           if os.path.isdir(os.path.join(root, name))}
    if "train" in sub and ("val" in sub or "validation" in sub):
        train, val, how = _subtrees(root, sub.get("val", sub.get("validation")))
    else:
        train, val, how = _held_out(root, ds.validation_fraction)
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
            files = files[:ds.limit] if per_class is val else interleave(files)[:ds.limit]
        splits.append(files_split(files))
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
    for split in (source.train, source.val):  # what PIL forgives (a PNG cut before IEND), TensorFlow may not
        for path, _ in (split.files or [])[:limit]:
            reason = tf_decode_error(path)
            if reason:
                return f"{path}: the image does not decode ({reason})"
    return None


def tf_decode_error(path: str) -> str | None:
    """TensorFlow's reason (cleaned of its op names) for not decoding the image file `path` as the pipeline does,
    or None when it decodes."""
    import tensorflow as tf

    try:
        decode(tf, tf.io.read_file(path), 3)
    except (tf.errors.OpError, ValueError) as e:
        return clean_tf_message(getattr(e, "message", None) or str(e))
    return None


def clean_tf_message(text: str) -> str:
    """The first line of a TensorFlow error without its internals ({{function_node ...}}, [Op:...], name:)."""
    import re

    line = (text.strip().splitlines() or [""])[0]
    line = re.sub(r"\{\{[^}]*\}\}\s*", "", line)
    line = re.sub(r"\s*\[Op:[^\]]*\].*$", "", line)
    return line.strip()[:200] or "TensorFlow could not decode it"


def interleave(files):
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


def folder_stream(files):
    """A callable (channels=3) -> tf.data.Dataset of (decoded uint8 image, label) over [(path, label)]."""
    def stream(channels=3):
        import tensorflow as tf

        paths = tf.constant([f for f, _ in files])
        labels = tf.constant([c for _, c in files], dtype=tf.int32)

        def decode_one(path, label):
            return decode(tf, tf.io.read_file(path), channels), label

        return tf.data.Dataset.from_tensor_slices((paths, labels)).map(decode_one,
                                                                       num_parallel_calls=tf.data.AUTOTUNE)

    return stream


def files_split(files) -> Split:
    """A streamed split of image files [(path, label)], keeping the list (training crops before decoding)."""
    return Split(len(files), stream=folder_stream(files), files=files)

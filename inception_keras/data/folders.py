"""Image folders: one subfolder of images per class, with train/ and val/ (or validation/) subtrees or a fraction
of every class held out; the files are listed and checked here, decoded by the pipeline as they stream."""
from __future__ import annotations

import dataclasses
import os
import random

from inception_keras import safeio
from inception_keras.data.images import decode
from inception_keras.data.splits import Source, Split
from inception_keras.errors import ConfigError, Problem

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


def _held_out(root: str, fraction: float, seed: int = 0) -> tuple[dict, dict, str]:
    """One tree of class folders: `fraction` of each class (at least one image when there are two) held out for
    validation, drawn with `seed` (dataset.seed)."""
    every = class_files(root)
    rng = random.Random(seed)
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
    """The image folder of the recipe's dataset (ds: recipe.Dataset): streamed splits that keep their file lists.
    `ds.classes` picks class folders (labelled in its order); `ds.limit` keeps a per-class sample of each split."""
    root = ds.path
    if not os.path.isdir(root):
        raise ConfigError(f"{root}: image folder not found")
    sub = {name: os.path.join(root, name) for name in ("train", "val", "validation")
           if os.path.isdir(os.path.join(root, name))}
    if "train" in sub and ("val" in sub or "validation" in sub):
        train, val, how = _subtrees(root, sub.get("val", sub.get("validation")))
    else:
        train, val, how = _held_out(root, ds.validation_fraction, ds.seed)
    names = _class_names(ds, root, sorted(train))
    empty = [n for n in names if not train[n]]
    if empty:
        raise ConfigError(f"{root}: no images ({', '.join(IMAGE_EXTENSIONS)}) for class(es): {', '.join(empty)}")
    if ds.limit and ds.limit < len(names):
        raise ConfigError(f"{root}: --limit {ds.limit} cannot keep every one of its {len(names)} classes (at least "
                          f"one image each): give --limit {len(names)} or more, or fewer classes (dataset.classes)")
    splits = []
    for which, per_class in enumerate((train, val)):
        chosen = [per_class[n] for n in names]
        if ds.limit:  # each split its own draw, both from dataset.seed
            chosen = stratified(chosen, ds.limit, random.Random(f"{ds.seed}/{which}"))
        files = [(f, label) for label, fs in enumerate(chosen) for f in fs]
        _check_images([f for f, _ in files])
        splits.append(files_split(interleave(files) if ds.limit and per_class is train else files))
    if splits[1].count == 0:
        raise ConfigError(f"{root}: no validation images ({how})")
    return Source(os.path.basename(os.path.normpath(root)), f"image folder {root} ({how})", splits[0], splits[1],
                  names, None)


def _class_names(ds, root: str, found: list[str]) -> list[str]:
    """The classes in label order: dataset.classes, each checked against the class folders `found` (a missing one
    is named at the recipe's `classes` line), or every class folder."""
    if not found:
        raise ConfigError(f"{root}: no class folders (expected one subfolder of images per class, or train/ and "
                          f"val/ subtrees of them)")
    if ds.classes is None:
        return found
    missing = [n for n in ds.classes if n not in found]
    if missing:
        listed = ", ".join(found[:40]) + (f", ... ({len(found)} in all)" if len(found) > 40 else "")
        raise classes_error(ds, f"no class folder {', '.join(map(repr, missing))} in {root} (classes found: "
                                f"{listed})")
    return list(ds.classes)


def classes_error(ds, message: str) -> ConfigError:
    """A ConfigError at the recipe's `dataset.classes` (file:line:column, or the --set that gave it)."""
    at = ds.classes_at or Problem(None, "dataset.classes", None, None, "")
    return ConfigError([dataclasses.replace(at, message=message + at.message)])


def stratified(per_class: list[list], n: int, rng: random.Random) -> list[list]:
    """At most `n` files in all, from every class: n shared in proportion to the classes' sizes (largest
    remainders first), at least one per class that has files; each class's files drawn by `rng`, kept in their
    sorted order. All of them when there are no more than `n`."""
    sizes = [len(fs) for fs in per_class]
    total = sum(sizes)
    if total <= n:
        return [list(fs) for fs in per_class]
    exact = [n * s / total for s in sizes]
    quota = [int(e) for e in exact]
    for i in sorted(range(len(sizes)), key=lambda i: (quota[i] - exact[i], i))[:n - sum(quota)]:
        quota[i] += 1
    for i in range(len(sizes)):  # a small class keeps one image, taken from the largest share
        if sizes[i] and not quota[i] and sum(1 for q in quota if q) < n:
            quota[max(range(len(quota)), key=lambda j: (quota[j], -j))] -= 1
            quota[i] = 1
    return [sorted(rng.sample(list(fs), q)) for fs, q in zip(per_class, quota)]


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

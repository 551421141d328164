"""`inception-keras predict`: class names and probabilities for image files.

A run directory or a `.keras` file gives the model (`load_inference`); images are decoded as stored (alpha
dropped), then prepared by the validation preprocessing of the training pipeline itself
(`data.images.to_input`): grey <-> RGB, centre-cropped (the recipe's crop_fraction) when the run's recipe says
`resize: crop`, resized to the model's input when the size differs, divided by 255. Whatever the architecture
declares under `normalize` is the model's own first layer, so [0, 1] images are all it is given.

Class names: `--labels FILE` (one per line); else a run's data set (config.yaml: Fashion-MNIST's names,
MNIST's digits, an image folder's class folders, a tfds set's label names where tfds knows them without
downloading); else ImageNet's 1,000 names (resources/imagenet_classes.txt, torchvision's list, in the order
of its pretrained weights) for a 1000-class model; else `class N`.
"""
from __future__ import annotations

import os

import numpy as np

from inception_keras import safeio
from inception_keras.errors import ConfigError
from inception_keras.runs.loader import load_inference

MAX_IMAGE_BYTES = 256 << 20


def imagenet_classes() -> list[str]:
    """ImageNet-1k's class names in class-index order (torchvision's list; the ILSVRC 2012 synset order)."""
    from importlib.resources import files

    text = files("inception_keras").joinpath("resources", "imagenet_classes.txt").read_text(encoding="utf-8")
    names = text.splitlines()
    assert len(names) == 1000, len(names)
    return names


def class_names(recipe, classes: int, labels: str | None = None) -> tuple[list[str], str]:
    """(one name per class, where the names came from)."""
    if labels:
        try:
            text = safeio.read_text(labels, "class names file", safeio.LIMITS["labels"])
            names = [line.strip() for line in text.splitlines() if line.strip()]
        except ConfigError as e:
            raise ConfigError(f"{labels}: cannot read the class names: {e.problems[0].message}") from None
        if len(names) != classes:
            raise ConfigError(f"{labels}: {len(names)} class names for a model of {classes} classes")
        return names, labels
    names, where = [], ""
    if recipe is not None:
        names, where = _dataset_names(recipe.dataset)
    if not names and classes == 1000:
        names, where = imagenet_classes(), "ImageNet-1k"
    if not names:
        return [f"class {i}" for i in range(classes)], "no class names known (--labels FILE names them)"
    return (names + [f"class {i}" for i in range(len(names), classes)])[:classes], where


def _dataset_names(ds) -> tuple[list[str], str]:
    from inception_keras.data.folders import class_files, looks_like_image_folder
    from inception_keras.data.idx import FASHION_MNIST_CLASSES, has_idx

    if ds.name == "fashion_mnist":
        return list(FASHION_MNIST_CLASSES), "Fashion-MNIST"
    if ds.name == "mnist":
        return [str(i) for i in range(10)], "MNIST"
    if ds.path and os.path.isdir(ds.path) and (ds.kind == "image_folder" or ds.kind == "auto"
                                               and not has_idx(ds.path) and looks_like_image_folder(ds.path)):
        root = os.path.join(ds.path, "train") if os.path.isdir(os.path.join(ds.path, "train")) else ds.path
        if ds.classes is not None:
            return list(ds.classes), f"dataset.classes (class folders of {root})"
        return sorted(class_files(root)), f"the class folders of {root}"
    if ds.kind in ("auto", "tfds"):
        try:
            import tensorflow_datasets as tfds

            label = tfds.builder(ds.name, data_dir=ds.path).info.features["label"]
            return list(label.names), f"tfds '{ds.name}'"
        except Exception:  # noqa: BLE001 - unknown set, no metadata offline: numbered classes
            return [], ""
    return [], ""


def load_image(path: str, input_shape: tuple, resize: str = "resize", crop_fraction: float = 1.0):
    """float32 [H, W, C] in [0, 1] at the model's input, or ConfigError naming the file."""
    import tensorflow as tf

    from inception_keras.data.folders import IMAGE_MAGIC, check_image_header
    from inception_keras.data.images import to_input

    if not os.path.exists(path):
        raise ConfigError(f"{path}: no such image file")
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: not a file")
    try:
        blob = safeio.read_bytes(path, "image", MAX_IMAGE_BYTES)
    except ConfigError as e:
        raise ConfigError(f"{path}: cannot read the image: {e.problems[0].message}") from None
    if not any(blob.startswith(m) for m in IMAGE_MAGIC):
        raise ConfigError(f"{path}: not a PNG, JPEG, GIF or BMP image (starts with {blob[:8].hex() or 'nothing'})")
    check_image_header(path, blob)
    try:
        img = tf.io.decode_image(blob, channels=0, dtype=tf.uint8, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
        raise ConfigError(f"{path}: cannot decode the image: {e.message.splitlines()[0]}") from None
    stored = int(img.shape[-1])
    if stored in (2, 4):  # grey + alpha, RGBA: the alpha channel is dropped
        img = img[..., :stored - 1]
    x = to_input(tf, img, input_shape, resize, crop_fraction)
    return x.numpy(), f"{img.shape[0]}x{img.shape[1]}x{stored}"


def predict(target: str, images: list[str], top: int = 5, labels: str | None = None,
            resize: str | None = None, precision: str = "float32") -> dict:
    """`precision`: the inference form that classifies (nn.inference: BatchNorm folded; float32 or bfloat16)."""
    from inception_keras.nn.inference import inference_model

    model, recipe, where = load_inference(target)
    model = inference_model(model, precision)
    input_shape = tuple(int(d) for d in model.input_shape[1:])
    classes = int(model.output_shape[-1])
    names, names_from = class_names(recipe, classes, labels)
    resize = resize or (recipe.dataset.resize if recipe is not None else "resize")
    crop_fraction = recipe.dataset.crop_fraction if recipe is not None else 1.0
    batch, stored = [], []
    for path in images:  # every image is checked before the model runs
        x, shape = load_image(path, input_shape, resize, crop_fraction)
        batch.append(x)
        stored.append(shape)
    logits = np.concatenate([np.asarray(model(np.stack(batch[i:i + 32]), training=False), np.float64)
                             for i in range(0, len(batch), 32)])
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    out = []
    for path, shape, p in zip(images, stored, probs, strict=True):
        order = np.argsort(-p, kind="stable")[:min(top, classes)]
        out.append({"image": path, "stored": shape, "top": [(int(c), names[c], float(p[c])) for c in order]})
    return {"model": where, "input": "x".join(map(str, input_shape)), "classes": classes, "names": names_from,
            "predictions": out}


def render(result: dict) -> str:
    lines = [f"model: {result['model']} (input {result['input']}, {result['classes']} classes; names: "
             f"{result['names']})"]
    for item in result["predictions"]:
        lines += ["", f"{item['image']} ({item['stored']} -> {result['input']})"]
        width = max(len(str(c)) for c, _, _ in item["top"])
        lines += [f"  {p:8.4f}  {c:>{width}}  {name}" for c, name, p in item["top"]]
    return "\n".join(lines)

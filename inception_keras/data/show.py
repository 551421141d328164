"""`inception-keras show`: a picture of the training data as the model sees it.

The first rows x cols training examples go through the training pipeline (the recipe's augmentation, drawn
from its seed) and through the validation pipeline; the PNG shows the two grids side by side, each image with
its class. Images are drawn at the network's input size, magnified by a whole factor when it is below 64
pixels, so a user judges a recipe's crops, flips and jitter by looking.

Layout (pixels): each image is a cell of cw x ch (the input size times the magnification), its class in a
CAPTION band below it; cells are MARGIN apart; each grid has a TITLE band above it; the grids are GAP apart
inside a MARGIN border. So the PNG is 2*MARGIN + GAP + 2*(cols*cw + (cols-1)*MARGIN) wide and
2*MARGIN + TITLE + rows*(ch + CAPTION) + (rows-1)*MARGIN high (docs/augmentation.md).
"""
from __future__ import annotations

import math

import numpy as np

from inception_keras import writing
from inception_keras.data.folders import files_split, interleave
from inception_keras.data.pipeline import Pipeline
from inception_keras.data.sources import open_source
from inception_keras.data.splits import Split
from inception_keras.lang.arch import ArchSpec
from inception_keras.lang.recipe import Recipe

MARGIN = 8
GAP = 16
TITLE = 20
CAPTION = 14
MIN_CELL = 64


def magnification(input_shape) -> int:
    return max(1, math.ceil(MIN_CELL / min(input_shape[0], input_shape[1])))


def layout(input_shape, rows: int, cols: int) -> dict:
    """Sizes and the top-left corner of every cell: {"width", "height", "cell": (cw, ch), "cells": [[(x, y)] per
    panel]}, panel 0 the training grid, panel 1 the validation grid, cells in reading order."""
    k = magnification(input_shape)
    cw, ch = input_shape[1] * k, input_shape[0] * k
    panel_w = cols * cw + (cols - 1) * MARGIN
    width = 2 * MARGIN + GAP + 2 * panel_w
    height = 2 * MARGIN + TITLE + rows * (ch + CAPTION) + (rows - 1) * MARGIN
    cells = [[(MARGIN + p * (panel_w + GAP) + c * (cw + MARGIN), MARGIN + TITLE + r * (ch + CAPTION + MARGIN))
              for r in range(rows) for c in range(cols)] for p in range(2)]
    return {"width": width, "height": height, "cell": (cw, ch), "scale": k, "cells": cells}


def _first(split: Split, n: int) -> Split:
    """The first n examples of a split (image folders: round-robin over the classes, so that all show)."""
    if split.images is not None:
        return Split(min(n, split.count), split.images[:n], split.labels[:n])
    if split.files is not None:
        return files_split(interleave(split.files)[:n])
    return Split(min(n, split.count), stream=lambda **kw: split.stream(**kw).take(n))


def show(spec: ArchSpec, recipe: Recipe, out: str, rows: int = 4, cols: int = 6) -> dict:
    """Draw the grid of the recipe's first training images (the architecture `spec` gives the input) into `out`
    (PNG; a path or a writing.Output); return the layout, the images drawn and their labels."""
    writing.check(out, writing.PNG)
    source = open_source(recipe.dataset, spec.classes)
    kw = dict(batch=rows * cols, split=_first(source.train, rows * cols), cache=False)
    mixes = recipe.augment is not None and recipe.augment.mixes  # MixUp, CutMix: labels are mixtures
    training = Pipeline.from_recipe(recipe, source, spec.input, training=True, sample_weights=False,
                                    classes=spec.classes if mixes else None, **kw)
    train_x, labels = next(iter(training.epoch(None, shuffle=False)))
    val_x, _ = next(iter(Pipeline.from_recipe(recipe, source, spec.input, training=False, **kw).validation()))
    train_x, val_x, labels = np.asarray(train_x), np.asarray(val_x), np.asarray(labels)
    shares = labels.max(axis=1) if labels.ndim == 2 else None
    labels = (labels.argmax(axis=1) if labels.ndim == 2 else labels).astype(int)
    return _draw(spec, recipe, source, out, rows, cols, train_x, val_x, labels, shares)


def _draw(spec: ArchSpec, recipe: Recipe, source, out: str, rows: int, cols: int, train_x, val_x, labels,
          shares=None) -> dict:
    """The PNG itself: the two grids, their titles and every image's class (with its share of a mixed label,
    the larger one)."""
    from PIL import Image, ImageDraw, ImageFont

    grid = layout(spec.input, rows, cols)
    (cw, ch), k = grid["cell"], grid["scale"]
    canvas = Image.new("RGB", (grid["width"], grid["height"]), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    names = recipe.augment.names if recipe.augment else []
    titles = [f"training: {recipe.name}, seed {recipe.seed}; " + (", ".join(names) if names else "no augmentation"),
              "validation view of the same images"]
    chars = max(3, cw // 6)
    for panel, (images, title) in enumerate(zip((train_x, val_x), titles)):
        x0, y0 = grid["cells"][panel][0]
        draw.text((x0, y0 - TITLE + 3), title, fill="black", font=font)
        for i, image in enumerate(images):
            x, y = grid["cells"][panel][i]
            canvas.paste(_to_pil(image, k), (x, y))
            name = source.class_names[labels[i]] if labels[i] < len(source.class_names) else str(labels[i])
            text = name[:chars] if shares is None or panel else f"{name[:max(1, chars - 4)]} {shares[i]:.0%}"
            draw.text((x, y + ch + 1), text, fill="black", font=font)
    with writing.output(out, writing.PNG) as tmp:
        canvas.save(tmp, format="PNG")
    return dict(grid, path=writing.path_of(out), train=train_x, validation=val_x, labels=labels, titles=titles,
                classes=[source.class_names[i] for i in labels], shares=shares)


def _to_pil(image: np.ndarray, k: int):
    from PIL import Image

    pixels = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    if k > 1:
        pixels = pixels.repeat(k, axis=0).repeat(k, axis=1)
    return Image.fromarray(pixels, "RGB")


def report(result: dict) -> str:
    """The line `inception-keras show` prints: what was written."""
    return (f"wrote {result['path']}: {len(result['train'])} training images ({result['titles'][0].split('; ')[-1]}) "
            f"beside their validation view, {result['width']}x{result['height']} px")

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
import os

import numpy as np

from inception_keras.errors import ConfigError

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


def _first(split, n: int):
    """The first n examples of a split (image folders: round-robin over the classes, so that all show)."""
    from inception_keras.data import pipeline as D

    if split.images is not None:
        return D.Split(min(n, split.count), split.images[:n], split.labels[:n])
    if split.files is not None:
        files = D._interleave(split.files)[:n]
        return D.Split(len(files), stream=D._folder_stream(files), files=files)
    return D.Split(min(n, split.count), stream=lambda **kw: split.stream(**kw).take(n))


def show(arch_path: str, recipe_path: str, out: str, sets=(), limit=None, data_dir=None, rows: int = 4,
         cols: int = 6) -> dict:
    """Draw the grid into `out` (PNG); return the layout, the images drawn and their labels."""
    from PIL import Image, ImageDraw, ImageFont

    from inception_keras.data import pipeline as D
    from inception_keras.engine.plan import resolve

    if not out.lower().endswith(".png"):
        raise ConfigError(f"--out {out}: the picture is a PNG; name it FILE.png")
    spec, recipe, _ = resolve(arch_path, recipe_path, sets, limit, data_dir)
    source = D.open_source(recipe.dataset, spec.classes)
    sub = _first(source.train, rows * cols)
    ds = recipe.dataset
    kw = dict(input_shape=spec.input, batch=rows * cols, seed=recipe.seed, resize=ds.resize, cache=False,
              stored_channels=source.channels, crop_fraction=ds.crop_fraction, shuffle=False)
    train_x, labels = next(iter(D.pipeline(sub, training=True, augment=recipe.augment, **kw)))
    val_x, _ = next(iter(D.pipeline(sub, training=False, **kw)))
    train_x, val_x, labels = np.asarray(train_x), np.asarray(val_x), np.asarray(labels).astype(int)

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
            draw.text((x, y + ch + 1), name[:chars], fill="black", font=font)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    canvas.save(out, format="PNG")
    return dict(grid, path=out, train=train_x, validation=val_x, labels=labels, titles=titles,
                classes=[source.class_names[i] for i in labels])


def _to_pil(image: np.ndarray, k: int):
    from PIL import Image

    pixels = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    if k > 1:
        pixels = pixels.repeat(k, axis=0).repeat(k, axis=1)
    return Image.fromarray(pixels, "RGB")


def main(args) -> int:
    result = show(args.arch, args.recipe, args.out, sets=args.set, limit=args.limit, data_dir=args.data_dir,
                  rows=args.rows, cols=args.cols)
    print(f"wrote {result['path']}: {len(result['train'])} training images ({result['titles'][0].split('; ')[-1]}) "
          f"beside their validation view, {result['width']}x{result['height']} px")
    return 0

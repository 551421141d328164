"""Write the fine-tuning demonstration's data (docs/finetune.md): Fashion-MNIST as two image folders.

pretrain/: classes 0-4 (T-shirt, trouser, pullover, dress, coat), PRETRAIN training images per class and 200
validation images per class from the test set; finetune/: classes 5-9 (sandal, shirt, sneaker, bag, ankle boot),
FEW training images per class, 200 validation images per class. Each has train/ and val/ subtrees of one PNG
per image. Usage: python tools/finetune_demo.py OUT_DIR [--pretrain 1000] [--few 300]
"""
from __future__ import annotations

import argparse
import gzip
import os
import struct

import numpy as np
from PIL import Image

IDX = "/usr/share/datasets/fashion-mnist"
NAMES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def read_idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write_folder(root: str, images: np.ndarray, labels: np.ndarray, classes, per_class: int) -> None:
    for c in classes:
        folder = os.path.join(root, f"{c}-{NAMES[c]}")
        os.makedirs(folder, exist_ok=True)
        for i, index in enumerate(np.flatnonzero(labels == c)[:per_class]):
            Image.fromarray(images[index]).save(os.path.join(folder, f"{i:05d}.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--pretrain", type=int, default=1000)
    parser.add_argument("--few", type=int, default=300)
    a = parser.parse_args()
    x, y = read_idx(f"{IDX}/train-images-idx3-ubyte.gz"), read_idx(f"{IDX}/train-labels-idx1-ubyte.gz")
    xt, yt = read_idx(f"{IDX}/t10k-images-idx3-ubyte.gz"), read_idx(f"{IDX}/t10k-labels-idx1-ubyte.gz")
    for name, classes, n in (("pretrain", range(5), a.pretrain), ("finetune", range(5, 10), a.few)):
        write_folder(os.path.join(a.out, name, "train"), x, y, classes, n)
        write_folder(os.path.join(a.out, name, "val"), xt, yt, classes, 200)


if __name__ == "__main__":
    main()

"""Golden reference for `dataset.resize: opencv`: what MXNet's `transforms.Resize` (the d2l seed's input path)
makes of uint8 images, bit for bit.

Run (MXNet in its own venv, as mxnet_seed.py; `make golden` does it):

    .venv-mxnet/bin/python tools/reference/mxnet_resize.py [--data /usr/share/datasets/fashion-mnist]

Writes tests/fixtures/mxnet_resize.npz (np.savez_compressed, about 40 kB):

  case.names                       one name per case
  <case>.raw, <case>.size          the uint8 HxWxC input and the (width, height) asked of Resize
  <case>.out                       MXNet's output, uint8
Cases: the first 8 Fashion-MNIST test images 28x28x1 -> 96x96 (d2l's Resize(96)), and seeded uniform uint8
images (seeded.rng) up- and down-scaled to other and non-square sizes, grey and RGB.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import mxnet as mx  # noqa: E402
import mxnet_seed  # noqa: E402
import seeded  # noqa: E402
from mxnet import nd  # noqa: E402
from mxnet.gluon.data.vision import transforms  # noqa: E402

SEED = 0
# name: (raw shape HxWxC, Resize size (width, height))
SYNTHETIC = {"up_13x17x1": ((13, 17, 1), (40, 30)), "down_50x40x1": ((50, 40, 1), (23, 31)),
             "rgb_20x24x3": ((20, 24, 3), (33, 29))}


def resize(raw: np.ndarray, size) -> np.ndarray:
    return transforms.Resize(tuple(size) if size[0] != size[1] else size[0])(nd.array(raw, dtype=np.uint8)).asnumpy()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "mxnet_resize.npz"))
    args = p.parse_args(argv)
    images, _ = mxnet_seed.load_split(args.data, "t10k", 8)
    cases = {"fmnist_96": (images[..., None], (96, 96))}
    for name, (shape, size) in SYNTHETIC.items():
        cases[name] = (seeded.rng(SEED, name).integers(0, 256, shape, dtype=np.uint8), size)
    out = {"case.names": np.array(list(cases))}
    for name, (raw, size) in cases.items():
        got = np.stack([resize(r, size) for r in raw]) if raw.ndim == 4 else resize(raw, size)
        assert got.dtype == np.uint8, got.dtype
        out[f"{name}.raw"], out[f"{name}.size"], out[f"{name}.out"] = raw, np.array(size), got
        print(f"{name}: {raw.shape} -> {got.shape}")
    np.savez_compressed(args.out, **out)
    print(f"mxnet {mx.__version__}: wrote {args.out} ({os.path.getsize(args.out):,} bytes)")


if __name__ == "__main__":
    main()

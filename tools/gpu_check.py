#!/usr/bin/env python3
"""GPU measurements for docs/performance.md, run on a lent GPU machine (tools/gpu_check.sh).

That machine has PyTorch and JAX with CUDA but no TensorFlow, and TensorFlow cannot be carried there
(its wheel alone is 573 MB; a call carries 64 MiB). So the YAML-built network is measured through Keras 3's
JAX backend, which runs the same builder (arch YAML -> keras.Model); tf.data, tf.distribute and
`inception-keras train` are TensorFlow-only and are not measured there.

  python tools/gpu_check.py bench  [--steps 20]         ours: synthetic images/s per precision (Keras/JAX)
  python tools/gpu_check.py torch  --peers DIR          the PyTorch peer on the GPU (fp32/bf16, channels-last)
  python tools/gpu_check.py epoch  --idx DIR [--epochs 2] the seed recipe on Fashion-MNIST: seconds per epoch
  python tools/gpu_check.py best   --idx DIR [--epochs N]  train/fashion_mnist_best.yaml in full: test accuracy
                                                         per epoch, the augmentation on the accelerator

Each prints JSON lines.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def emit(**record):
    print(json.dumps(record), flush=True)


def bench(args):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    from inception_keras import bench as B

    for precision in args.precisions.split(","):
        try:
            out = B.run(os.path.join(ROOT, "arch", "googlenet.yaml"), os.path.join(ROOT, "train", "fashion_mnist.yaml"),
                        args.batch, precision, "synthetic", args.steps, args.windows, args.warmup)
            emit(what="ours", precision=precision, backend=out["backend"], device=out["device"],
                 images_per_second=out["images_per_second"], ms_per_step=out["results"][0]["ms_per_step"],
                 windows=out["results"][0]["window_images_per_second"], gpu_peak_bytes=out["gpu_peak_bytes"])
        except Exception as e:  # noqa: BLE001 - report and go on to the next precision
            emit(what="ours", precision=precision, error=f"{type(e).__name__}: {e}"[:2000])


def torch_peer(args):
    import torch
    from torch.nn import functional as F

    sys.path.insert(0, args.peers)
    from torch_googlenet import googlenet

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        net = googlenet().to(device).to(memory_format=torch.channels_last)
        x = torch.rand(args.batch, 1, 96, 96, device=device).to(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (args.batch,), device=device)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()

        for _ in range(args.warmup):
            step()
        sync()
        rates = []
        for _ in range(args.windows):
            t = time.perf_counter()
            for _ in range(args.steps):
                step()
            sync()
            rates.append(args.batch * args.steps / (time.perf_counter() - t))
        rates.sort()
        emit(what="pytorch-peer", precision=precision, channels_last=True, torch=torch.__version__,
             device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu", images_per_second=round(rates[len(rates) // 2], 1),
             windows=[round(r, 1) for r in rates])


def epoch(args):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import dataclasses

    import keras
    import numpy as np

    from inception_keras.builder import build_models
    from inception_keras.data import read_idx_split
    from inception_keras.recipe import load_recipe
    from inception_keras.task import compile_model

    recipe = load_recipe(os.path.join(ROOT, "train", "fashion_mnist.yaml"))
    recipe = dataclasses.replace(recipe, precision=args.precision)
    keras.mixed_precision.set_global_policy(args.precision)
    keras.utils.set_random_seed(recipe.seed)

    def load(split):
        x, y = read_idx_split(args.idx, split)
        out = np.empty((len(x), 96, 96, 1), np.float32)
        for i in range(0, len(x), 5000):  # bilinear, as the TensorFlow pipeline does
            out[i:i + 5000] = np.asarray(keras.ops.image.resize(x[i:i + 5000].astype(np.float32), (96, 96),
                                                                interpolation="bilinear")) / 255.0
        return out, y

    t = time.perf_counter()
    (xtr, ytr), (xte, yte) = load("train"), load("test")
    emit(what="seed-epoch", step="data", seconds=round(time.perf_counter() - t, 1), train=len(xtr), test=len(xte))
    models = build_models(os.path.join(ROOT, "arch", "googlenet.yaml"))
    compile_model(models, recipe, len(xtr) // recipe.batch_size, "auto")

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.t0, self.t_val = time.perf_counter(), None

        def on_test_begin(self, logs=None):
            self.t_val = self.t_val or time.perf_counter()

        def on_epoch_end(self, e, logs=None):
            now = time.perf_counter()
            train = (self.t_val or now) - self.t0
            emit(what="seed-epoch", backend=keras.backend.backend(), precision=args.precision, epoch=e + 1,
                 epoch_seconds=round(now - self.t0, 2), train_seconds=round(train, 2),
                 images_per_second=round(len(xtr) / train, 1),
                 **{k: round(float(v), 4) for k, v in (logs or {}).items()})

    models.train.fit(xtr, ytr, batch_size=recipe.batch_size, epochs=args.epochs, validation_data=(xte, yte),
                     shuffle=True, verbose=0, callbacks=[Timer()])


def best(args):
    """A recipe trained in full with Keras (JAX on the GPU machine): the data in memory at the input size, the
    recipe's augmentation as the first layer of the training model (on the accelerator, training only), the
    recipe's optimizer, schedule and label smoothing; one JSON line per epoch with the test accuracy."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    import numpy as np

    from inception_keras.augment import Augmenter
    from inception_keras.builder import Models, build_models
    from inception_keras.data import read_idx_split
    from inception_keras.recipe import load_recipe
    from inception_keras.spec import load_arch
    from inception_keras.task import compile_model

    recipe = load_recipe(args.recipe, sets=[("epochs", args.epochs)] if args.epochs else None)
    spec = load_arch(args.arch)
    keras.mixed_precision.set_global_policy(args.precision)
    keras.utils.set_random_seed(recipe.seed)
    height, width, channels = spec.input

    def load(split):
        x, y = read_idx_split(args.idx, split)
        if args.limit:
            x, y = x[:args.limit], y[:args.limit]
        out = np.empty((len(x), height, width, channels), np.float32)
        for i in range(0, len(x), 5000):  # bilinear, as the TensorFlow pipeline does
            chunk = x[i:i + 5000].astype(np.float32)
            if chunk.shape[-1] != channels:
                chunk = np.repeat(chunk, channels, axis=-1)
            out[i:i + 5000] = np.asarray(keras.ops.image.resize(chunk, (height, width), interpolation="bilinear"))
        out /= 255.0
        if recipe.label_smoothing > 0:  # the loss takes one-hot labels
            y = np.eye(spec.classes, dtype=np.float32)[y]
        return out, y

    t = time.perf_counter()
    (xtr, ytr), (xte, yte) = load("train"), load("test")
    emit(what="best", step="data", seconds=round(time.perf_counter() - t, 1), train=len(xtr), test=len(xte))
    models = build_models(spec)
    inp = keras.Input(spec.input, name="images")
    augment = Augmenter(recipe.augment, spec.input, seed=recipe.seed)
    train = keras.Model(inp, models.train(augment(inp)), name=f"{spec.name}_augmented")
    steps = -(-len(xtr) // recipe.batch_size)
    compile_model(Models(train, models.inference, models.loss_weights), recipe, steps, "auto")
    labels = {k: ytr for k in models.loss_weights} if models.has_aux else ytr
    val_labels = {k: yte for k in models.loss_weights} if models.has_aux else yte

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.t0, self.t_val = time.perf_counter(), None

        def on_test_begin(self, logs=None):
            self.t_val = self.t_val or time.perf_counter()

        def on_epoch_end(self, e, logs=None):
            now = time.perf_counter()
            train_seconds = (self.t_val or now) - self.t0
            emit(what="best", arch=spec.name, recipe=recipe.name, backend=keras.backend.backend(),
                 precision=args.precision, augment=augment.augment.names if augment.augment else [],
                 epoch=e + 1, epochs=recipe.epochs, epoch_seconds=round(now - self.t0, 2),
                 images_per_second=round(len(xtr) / train_seconds, 1),
                 **{k: round(float(v), 4) for k, v in (logs or {}).items()})

    train.fit(xtr, labels, batch_size=recipe.batch_size, epochs=recipe.epochs, validation_data=(xte, val_labels),
              shuffle=True, verbose=0, callbacks=[Report()])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["bench", "torch", "epoch", "best"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--windows", type=int, default=3)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--precisions", default="float32,mixed_bfloat16,mixed_float16")
    p.add_argument("--precision", default="float32")
    p.add_argument("--peers", default=os.path.join(ROOT, ".gpu", "peers"))
    p.add_argument("--idx", default=os.path.join(ROOT, ".gpu", "fashion-mnist"))
    p.add_argument("--epochs", type=int, default=None, help="epoch: default 2; best: default the recipe's")
    p.add_argument("--arch", default=os.path.join(ROOT, "arch", "googlenet_bn_fashion.yaml"), help="best")
    p.add_argument("--recipe", default=os.path.join(ROOT, "train", "fashion_mnist_best.yaml"), help="best")
    p.add_argument("--limit", type=int, default=None, help="best: the first N training and test images")
    p.add_argument("--device", default="cuda", help="torch: the device of the PyTorch peer")
    args = p.parse_args()
    if args.what == "epoch" and args.epochs is None:
        args.epochs = 2
    {"bench": bench, "torch": torch_peer, "epoch": epoch, "best": best}[args.what](args)


if __name__ == "__main__":
    main()

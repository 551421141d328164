#!/usr/bin/env python3
"""GPU measurements for docs/performance.md, run on a lent GPU machine (tools/gpu_check.sh).

That machine has PyTorch and JAX with CUDA but no TensorFlow, and TensorFlow cannot be carried there
(its wheel alone is 573 MB; a call carries 64 MiB). So the YAML-built network is measured through Keras 3's
JAX backend, which runs the same builder (arch YAML -> keras.Model); tf.data, tf.distribute and
`inception-keras train` are TensorFlow-only and are not measured there.

  python tools/gpu_check.py bench  [--steps 20]         ours: synthetic images/s per precision (Keras/JAX)
  python tools/gpu_check.py torch  --peers DIR          the PyTorch peer on the GPU (fp32/bf16, channels-last)
  python tools/gpu_check.py epoch  --idx DIR [--epochs 2] the seed recipe on Fashion-MNIST: seconds per epoch
  python tools/gpu_check.py seeds  --idx DIR [--seeds 0..9] [--parallel 10] [--deadline 300]
                                                        the seed recipe with each seed in its own process (all
                                                        on the one GPU): test accuracy after every epoch, then
                                                        per epoch n, mean, sd, min..max against the seed's 0.875
  python tools/gpu_check.py summarize --jsonl FILE      that study again from the JSON lines of a run
  python tools/gpu_check.py best   --idx DIR [--epochs N]  train/fashion_mnist_best.yaml in full: test accuracy
                                                         per epoch, the augmentation on the accelerator

Each prints JSON lines. `--size 32 --limit 512 --seeds 0..2 --epochs 2` makes any of them a check of this
script on a CPU in a minute (KERAS_BACKEND=jax with JAX installed, or tensorflow).
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
    from inception_keras.engine import bench as B

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

        def step(opt=opt, net=net, x=x, y=y, precision=precision):
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
             device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
             images_per_second=round(rates[len(rates) // 2], 1),
             windows=[round(r, 1) for r in rates])


def load_fashion_mnist(idx: str, size: int, limit: int | None = None):
    """(x_train, y_train), (x_test, y_test): IDX files resized to size x size (bilinear, as the TensorFlow
    pipeline does), scaled to 0..1, float32; the first `limit` examples of each split when given."""
    import keras
    import numpy as np

    from inception_keras.data.idx import read_idx_split

    def load(split):
        x, y = read_idx_split(idx, split)
        x, y = (x[:limit], y[:limit]) if limit else (x, y)
        out = np.empty((len(x), size, size, 1), np.float32)
        for i in range(0, len(x), 5000):
            out[i:i + 5000] = np.asarray(keras.ops.image.resize(x[i:i + 5000].astype(np.float32), (size, size),
                                                                interpolation="bilinear")) / 255.0
        return out, y

    return load("train"), load("test")


def _seed_recipe(args, seed: int):
    """The seed's recipe (train/fashion_mnist.yaml) and network (arch/googlenet.yaml at --size), this seed."""
    import dataclasses

    from inception_keras.lang.parse import load_arch
    from inception_keras.lang.recipe import load_recipe

    recipe = load_recipe(os.path.join(ROOT, "train", "fashion_mnist.yaml"), sets=[("seed", seed)])
    recipe = dataclasses.replace(recipe, precision=args.precision)
    spec = load_arch(os.path.join(ROOT, "arch", "googlenet.yaml"), sets=[("input", [args.size, args.size, 1])])
    return recipe, spec


def fit_seed(args, seed: int, what: str) -> None:
    """Train the seed recipe with this seed in this process; one JSON line per epoch (test accuracy = val_)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    from inception_keras.engine.task import compile_model
    from inception_keras.nn.builder import build_models

    recipe, spec = _seed_recipe(args, seed)
    epochs = args.epochs or recipe.epochs
    keras.mixed_precision.set_global_policy(args.precision)
    keras.utils.set_random_seed(recipe.seed)
    t = time.perf_counter()
    (xtr, ytr), (xte, yte) = load_fashion_mnist(args.idx, args.size, args.limit)
    emit(what=what, seed=seed, step="data", seconds=round(time.perf_counter() - t, 1), train=len(xtr), test=len(xte))
    models = build_models(spec)
    compile_model(models, recipe, len(xtr) // recipe.batch_size, "auto")

    concurrent = {"concurrent_runs": args.parallel} if what == "seed-run" else {}
    report = epoch_reporter(len(xtr), what=what, seed=seed, backend=keras.backend.backend(), precision=args.precision,
                            epochs=epochs, size=args.size, train=len(xtr), **concurrent)

    models.train.fit(xtr, ytr, batch_size=recipe.batch_size, epochs=epochs, validation_data=(xte, yte),
                     shuffle=True, verbose=0, callbacks=[report])


def epoch_reporter(images: int, **fields):
    """A Keras callback that emits one JSON line per epoch: `fields`, the epoch, its seconds (all, and training
    alone), training images/s and Keras' logs (the test accuracy is `val_accuracy`)."""
    import keras

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.t0, self.t_val = time.perf_counter(), None

        def on_test_begin(self, logs=None):
            self.t_val = self.t_val or time.perf_counter()

        def on_epoch_end(self, e, logs=None):
            now = time.perf_counter()
            train = (self.t_val or now) - self.t0
            emit(**fields, epoch=e + 1, epoch_seconds=round(now - self.t0, 2), train_seconds=round(train, 2),
                 images_per_second=round(images / train, 1), **{k: round(float(v), 4) for k, v in (logs or {}).items()})

    return Report()


def epoch(args):
    """Seconds per epoch of the seed recipe (seed 0 of the recipe), alone on the device."""
    fit_seed(args, args.seed, "seed-epoch")


def seed(args):
    fit_seed(args, args.seed, "seed-run")


def seed_list(text: str) -> list[int]:
    """`0..9` or `0,3,5`."""
    if ".." in text:
        lo, hi = text.split("..")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def seeds(args):
    """Every seed in its own process, --parallel at a time, until --deadline seconds; then the summary.

    The children's JSON lines are passed on as they come, so a run cut short still reports the epochs done."""
    import selectors
    import subprocess

    todo = seed_list(args.seeds)
    records, running = [], {}
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + args.deadline
    child = [sys.executable, os.path.abspath(__file__), "seed", "--idx", args.idx, "--size", str(args.size),
             "--precision", args.precision, "--parallel", str(min(args.parallel, len(todo)))]
    child += (["--epochs", str(args.epochs)] if args.epochs else []) + (["--limit", str(args.limit)] if args.limit
                                                                        else [])
    while (todo or running) and time.monotonic() < deadline:
        while todo and len(running) < args.parallel:
            s = todo.pop(0)
            proc = subprocess.Popen(child + ["--seed", str(s)], stdout=subprocess.PIPE, text=True, bufsize=1)
            running[proc.stdout] = (s, proc)
            sel.register(proc.stdout, selectors.EVENT_READ)
        for key, _ in sel.select(timeout=min(5.0, max(0.1, deadline - time.monotonic()))):
            line = key.fileobj.readline()
            if line:
                print(line, end="", flush=True)
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass
                continue
            s, proc = running.pop(key.fileobj)
            sel.unregister(key.fileobj)
            if proc.wait() != 0:
                emit(what="seed-run", seed=s, error=f"exit status {proc.returncode}")
    for s, proc in running.values():
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        emit(what="seed-run", seed=s, error=f"stopped at the deadline ({args.deadline} s)")
    if todo:
        emit(what="seed-run", not_started=todo, error=f"not started before the deadline ({args.deadline} s)")
    for record in study(records, args.reference):
        emit(**record)


def study(records: list[dict], reference: float) -> list[dict]:
    """Per epoch: n, mean, sd, min, max of the test accuracy (val_accuracy) over the seeds that reached it, and
    at the last epoch reached by every seed, the difference to the reference (the seed's 0.875)."""
    import statistics

    by_epoch: dict[int, dict[int, float]] = {}
    for r in records:
        if r.get("what") == "seed-run" and "epoch" in r and "val_accuracy" in r:
            by_epoch.setdefault(r["epoch"], {})[r["seed"]] = r["val_accuracy"]
    out = []
    for e in sorted(by_epoch):
        v = list(by_epoch[e].values())
        sd = statistics.stdev(v) if len(v) > 1 else None
        row = dict(what="seed-study", epoch=e, n=len(v), seeds=sorted(by_epoch[e]), mean=round(statistics.mean(v), 4),
                   sd=round(sd, 4) if sd is not None else None, min=min(v), max=max(v), reference=reference)
        row["mean_minus_reference"] = round(row["mean"] - reference, 4)
        if sd:
            row["reference_in_sd"] = round((reference - row["mean"]) / sd, 2)
        row["seeds_at_or_above_reference"] = sum(x >= reference for x in v)
        out.append(row)
    return out


def summarize(args):
    """The seed study of a gpu.jsonl written earlier."""
    with open(args.jsonl) as f:
        records = [json.loads(line) for line in f if line.startswith("{")]
    for record in study(records, args.reference):
        emit(**record)


def best(args):
    """A recipe trained in full with Keras (JAX on the GPU machine): the data in memory at the input size, the
    recipe's augmentation as the first layer of the training model (on the accelerator, training only), the
    recipe's optimizer, schedule and label smoothing; one JSON line per epoch with the test accuracy."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    import numpy as np

    from inception_keras.data.augment import Augmenter
    from inception_keras.data.idx import read_idx_split
    from inception_keras.engine.task import compile_model
    from inception_keras.lang.parse import load_arch
    from inception_keras.lang.recipe import load_recipe
    from inception_keras.nn.builder import Models, build_models

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

    report = epoch_reporter(len(xtr), what="best", arch=spec.name, recipe=recipe.name,
                            backend=keras.backend.backend(), precision=args.precision,
                            augment=augment.augment.names if augment.augment else [], epochs=recipe.epochs)

    train.fit(xtr, labels, batch_size=recipe.batch_size, epochs=recipe.epochs, validation_data=(xte, val_labels),
              shuffle=True, verbose=0, callbacks=[report])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["bench", "torch", "epoch", "seed", "seeds", "summarize", "best"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--windows", type=int, default=3)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--precisions", default="float32,mixed_bfloat16,mixed_float16")
    p.add_argument("--precision", default="float32")
    p.add_argument("--peers", default=os.path.join(ROOT, "tools", "peers"))
    p.add_argument("--idx", default=os.path.join(ROOT, ".gpu", "fashion-mnist"))
    p.add_argument("--epochs", type=int, default=None, help="default: the recipe's (the seed's: 5)")
    p.add_argument("--arch", default=os.path.join(ROOT, "arch", "googlenet_bn_fashion.yaml"), help="best")
    p.add_argument("--recipe", default=os.path.join(ROOT, "train", "fashion_mnist_best.yaml"), help="best")
    p.add_argument("--device", default="cuda", help="torch: the device of the PyTorch peer")
    p.add_argument("--seed", type=int, default=0, help="seed, epoch: the recipe's seed")
    p.add_argument("--seeds", default="0..9", help="seeds: 0..9 or 0,3,5")
    p.add_argument("--parallel", type=int, default=10, help="seeds: processes at a time (on one GPU)")
    p.add_argument("--deadline", type=float, default=300, help="seeds: seconds; then the runs still going are "
                   "stopped and the study reports the epochs done")
    p.add_argument("--size", type=int, default=96, help="image size (the seed: 96); smaller for a check on CPU")
    p.add_argument("--limit", type=int, default=None, help="first N training and N test images (a check on CPU)")
    p.add_argument("--reference", type=float, default=0.875, help="the seed's test accuracy after 5 epochs")
    p.add_argument("--jsonl", default=None, help="summarize: the gpu.jsonl to read")
    args = p.parse_args()
    {"bench": bench, "torch": torch_peer, "epoch": epoch, "seed": seed, "seeds": seeds,
     "summarize": summarize, "best": best}[args.what](args)


if __name__ == "__main__":
    main()

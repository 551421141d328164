"""Peer benchmark: train keras.applications.InceptionV3 and arch/inception_v3.yaml the same way, side by side.

Same input size, batch, float32, SGD with momentum, sparse cross-entropy on random data, no XLA; the two models
alternate in rounds (A B A B ...) so a busy machine slows both alike. Prints steps per second of each and the
ratio ours / Keras' (> 1: ours is faster).

    nice -n 10 python tools/bench_keras_apps.py --size 99 --batch 8 --steps 8 --rounds 3
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def compiled(model):
    import keras

    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=False,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def models(size: int, classes: int) -> dict:
    import keras

    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_model

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = load_arch(os.path.join(root, "arch", "inception_v3.yaml"),
                     sets=[("input", [size, size, 3]), ("classes", classes)])
    ref = keras.applications.InceptionV3(weights=None, input_shape=(size, size, 3), classes=classes,
                                         classifier_activation=None)
    return {"keras.applications": compiled(ref), "yaml": compiled(build_model(spec))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=99)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=8, help="timed steps per model per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--classes", type=int, default=10)
    a = p.parse_args()
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (a.batch, a.size, a.size, 3)).astype("float32")
    y = rng.integers(0, a.classes, a.batch)
    ms = models(a.size, a.classes)
    for m in ms.values():  # warm-up: trace the train function
        m.train_on_batch(x, y)
        m.train_on_batch(x, y)
    seconds = dict.fromkeys(ms, 0.0)
    for _ in range(a.rounds):
        for name, m in ms.items():
            t = time.perf_counter()
            for _ in range(a.steps):
                m.train_on_batch(x, y)
            seconds[name] += time.perf_counter() - t
    rate = {k: a.rounds * a.steps / v for k, v in seconds.items()}
    for k, v in rate.items():
        print(f"{k:>20}: {v:.3f} steps/s ({v * a.batch:.1f} images/s)")
    print(f"ratio yaml / keras.applications: {rate['yaml'] / rate['keras.applications']:.3f} "
          f"(input {a.size}, batch {a.batch}, float32, SGD, {a.rounds} rounds x {a.steps} steps)")


if __name__ == "__main__":
    main()

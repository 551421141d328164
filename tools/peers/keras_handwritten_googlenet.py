#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 (inception-keras, setup.cfg). The benchmarks' hand-written peer, kept as
# measured in docs/performance.md: only these two lines were added.
"""Keras peer: the seed's GoogLeNet written by hand in Keras (the way the d2l
book's TensorFlow edition does it), with no YAML in between.

Measures training throughput (images/s) of model.fit on random data held in
memory. Needs tensorflow (Keras 3).

  python keras_handwritten_googlenet.py --precision mixed_bfloat16 --batch 128 --steps 8

Prints one JSON line.
"""
import argparse, json, os, time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
import keras
from keras import layers


def inception(x, c1, c2, c3, c4):
    relu = "relu"
    p1 = layers.Conv2D(c1, 1, activation=relu)(x)
    p2 = layers.Conv2D(c2[1], 3, padding="same", activation=relu)(layers.Conv2D(c2[0], 1, activation=relu)(x))
    p3 = layers.Conv2D(c3[1], 5, padding="same", activation=relu)(layers.Conv2D(c3[0], 1, activation=relu)(x))
    p4 = layers.Conv2D(c4, 1, activation=relu)(layers.MaxPooling2D(3, 1, padding="same")(x))
    return layers.Concatenate()([p1, p2, p3, p4])


def googlenet(size=96, classes=10):
    inp = keras.Input((size, size, 1))
    x = layers.Conv2D(64, 7, 2, padding="same", activation="relu")(inp)
    x = layers.MaxPooling2D(3, 2, padding="same")(x)
    x = layers.Conv2D(64, 1, activation="relu")(x)
    x = layers.Conv2D(192, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(3, 2, padding="same")(x)
    x = inception(x, 64, (96, 128), (16, 32), 32)
    x = inception(x, 128, (128, 192), (32, 96), 64)
    x = layers.MaxPooling2D(3, 2, padding="same")(x)
    for c in [(192, (96, 208), (16, 48), 64), (160, (112, 224), (24, 64), 64), (128, (128, 256), (24, 64), 64),
              (112, (144, 288), (32, 64), 64), (256, (160, 320), (32, 128), 128)]:
        x = inception(x, *c)
    x = layers.MaxPooling2D(3, 2, padding="same")(x)
    x = inception(x, 256, (160, 320), (32, 128), 128)
    x = inception(x, 384, (192, 384), (48, 128), 128)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Dense(classes, dtype="float32")(x))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--precision", choices=["float32", "mixed_bfloat16", "mixed_float16"], default="float32")
    a = p.parse_args()
    keras.mixed_precision.set_global_policy(a.precision)
    keras.utils.set_random_seed(0)
    m = googlenet(a.size)
    m.compile(optimizer=keras.optimizers.SGD(0.1),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    x = np.random.rand(a.batch * a.steps, a.size, a.size, 1).astype("float32")
    y = np.random.randint(0, 10, a.batch * a.steps)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(a.batch).cache().repeat()
    m.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)  # warm-up: trace and build
    t = time.perf_counter()
    m.fit(ds, steps_per_epoch=a.steps, epochs=1, verbose=0)
    dt = time.perf_counter() - t
    print(json.dumps({"peer": "keras-handwritten", "tensorflow": tf.__version__, "keras": keras.__version__,
                      "params": m.count_params(), "precision": a.precision, "batch": a.batch, "size": a.size,
                      "steps": a.steps, "images_per_second": round(a.batch * a.steps / dt, 2)}))


if __name__ == "__main__":
    main()

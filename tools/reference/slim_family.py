"""Golden references for TF-Slim's Inceptions (run in .venv-slim: `make golden-slim`).

tf_slim.nets.inception_v1 / inception_v2 / inception_v3 (tf-slim 1.1.0) in TensorFlow's graph mode, under their
own arg scopes (inception_vN_arg_scope(): BatchNorm without scale, epsilon 0.001), num_classes=1001,
is_training=False. Writes tests/fixtures/slim_{net}_{size}.npz at the network's default size and a smaller one:
  inception_v1  224, 200   (its head is a 7x7 VALID average pool: the map is 7x7 for inputs 193..224)
  inception_v2  224, 160   (its head's pool shrinks to the map: 5x5 at 160)
  inception_v3  299, 235   (the same rule, 8x8 -> 6x6)
Random weights, none stored: each global variable is `seeded.slim_tensor(seed, name, shape)` (NumPy only;
He-scaled kernels, biases/beta/moving_mean N(0, 0.05..0.1), moving_variance U(0.5, 1.5): the BatchNorm
statistics perturbed), assigned in the session. Each fixture holds:
  seed, vars.names, vars.ndim, vars.shapes, vars.digest   every global variable (name order) and the digest of
                                                          what the session holds after the assignment
  input.key, input.shape, input.digest    the batch-2 NHWC N(0, 1) float32 input: seeded.inputs(seed, key, shape)
  logits                                  [2, 1001]
  versions                                tensorflow, tf-slim, numpy
With --checkpoint-dir, each network's checkpoint is also saved there by tf.compat.v1.train.Saver (what Slim's
training scripts save and its published tarballs hold): `import-weights slim` can be run on it by hand.

tf-slim 1.1.0 imports `tf_keras.legacy_tf_layers.*`, which tf-keras 2.21 keeps under `tf_keras.src`: the old
names are aliased in sys.modules before the import.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import seeded  # noqa: E402
import tensorflow as tf  # noqa: E402

for _m in ("", ".base", ".convolutional", ".core", ".normalization", ".pooling"):
    sys.modules["tf_keras.legacy_tf_layers" + _m] = importlib.import_module("tf_keras.src.legacy_tf_layers" + _m)
import tf_slim  # noqa: E402
from tf_slim.nets import inception_v1, inception_v2, inception_v3  # noqa: E402

SEED = 0
CLASSES = 1001
NETS = {
    "inception_v1": (inception_v1.inception_v1, inception_v1.inception_v1_arg_scope, (224, 200)),
    "inception_v2": (inception_v2.inception_v2, inception_v2.inception_v2_arg_scope, (224, 160)),
    "inception_v3": (inception_v3.inception_v3, inception_v3.inception_v3_arg_scope, (299, 235)),
}


def run(name: str, size: int, checkpoint_dir: str | None) -> dict:
    """The network in a fresh graph with seeded weights; the fixture's arrays."""
    net, arg_scope, _ = NETS[name]
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (2, size, size, 3))
        with tf_slim.arg_scope(arg_scope()):
            logits, _ = net(x, num_classes=CLASSES, is_training=False)
        variables = sorted(tf.compat.v1.global_variables(), key=lambda v: v.op.name)
        with tf.compat.v1.Session(graph=graph) as sess:
            for v in variables:
                v.load(seeded.slim_tensor(SEED, v.op.name, v.shape.as_list()), sess)
            held = sess.run(variables)
            key, shape = f"input{size}", (2, size, size, 3)
            inp = seeded.inputs(SEED, key, shape)
            out = {"logits": sess.run(logits, {x: inp})}
            if checkpoint_dir:
                os.makedirs(checkpoint_dir, exist_ok=True)
                path = tf.compat.v1.train.Saver(variables).save(sess, os.path.join(checkpoint_dir, f"{name}.ckpt"),
                                                                  write_meta_graph=False)
                print(f"  saved {path}")
    out.update({"seed": np.int64(SEED), "vars.names": np.array([v.op.name for v in variables]),
                "vars.ndim": np.array([len(v.shape) for v in variables], np.int64),
                "vars.shapes": np.array([d for v in variables for d in v.shape.as_list()], np.int64),
                "vars.digest": np.array(seeded.digest_all(held)),
                "input.key": np.array(key), "input.shape": np.array(shape),
                "input.digest": np.array(seeded.digest(inp)),
                "versions": np.array(f"tensorflow {tf.__version__}, tf-slim {importlib.metadata.version('tf-slim')}, "
                                     f"numpy {np.__version__}")})
    trainable = sum(int(np.prod(v.shape.as_list())) for v in variables if "moving_" not in v.op.name)
    print(f"{name} {size}px: {len(variables)} variables, {trainable:,} trainable values, "
          f"logits[0, :4] {np.round(out['logits'][0, :4], 4).tolist()}, |logits| max {np.abs(out['logits']).max():.3g}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "fixtures"))
    p.add_argument("--only", choices=sorted(NETS), nargs="+", default=sorted(NETS))
    p.add_argument("--checkpoint-dir", help="also save each network's seeded checkpoint here")
    args = p.parse_args(argv)
    tf.compat.v1.disable_eager_execution()
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.only:
        for i, size in enumerate(NETS[name][2]):
            out = run(name, size, args.checkpoint_dir if i == 0 else None)
            path = os.path.join(args.out_dir, f"slim_{name}_{size}.npz")
            np.savez_compressed(path, **out)
            print(f"  wrote {path} ({os.path.getsize(path):,} bytes)")


if __name__ == "__main__":
    main()

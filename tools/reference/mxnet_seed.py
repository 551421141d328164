"""Golden reference from the seed's own code: the d2l book's MXNet GoogLeNet on Fashion-MNIST at 96x96.

Run (MXNet in its own venv; it is not a project dependency and the tests never import it):

    python3 -m venv .venv-mxnet
    .venv-mxnet/bin/pip install 'mxnet==1.9.1' 'numpy<1.24'
    .venv-mxnet/bin/python tools/reference/mxnet_seed.py [--data /usr/share/datasets/fashion-mnist]

(`make golden` does this.) Writes tests/fixtures/seed_mxnet.npz (np.savez_compressed, well under 1 MB):

  params.names / .gluon / .shapes (flattened, with params.ndim) / .roles
        collect_params() order; our stable names param000.. (seeded.mxnet_name), gluon's own names
        for reading, shapes in MXNet's layout (conv OIHW, dense (out, in))
  params.digest      seeded.digest_all of every parameter as loaded into MXNet (so a test can tell a
                     changed generator from a changed network); weights themselves are NOT stored:
                     seeded.py regenerates them from (seed, name, shape, role)
  seed               the weight seed
  totensor_lut       float32[256]: what MXNet's ToTensor makes of each uint8 value (it is u8 / 255)
  eval.images        uint8 [8, 96, 96]: the first 8 Fashion-MNIST *test* images after MXNet's
                     Resize(96) (gluon.data.vision.transforms, bilinear), as d2l feeds them
  eval.labels, eval.logits
  noise.key, noise.digest, noise.logits
                     4 N(0,1) inputs [4, 1, 96, 96] from seeded.inputs(seed, "noise", ...), and
                     their logits (the inputs themselves are regenerated, their digest is stored)
  stage.B1 .. stage.B5, stage.dense
                     each stage's output for eval image 0, NCHW, via seeded.compact (whole when small,
                     else a subsample plus per-channel mean and max)
  train.images, train.labels
                     uint8 [16, 96, 96] and labels: 16 consecutive *training* images (d2l shuffles;
                     any batch does for one step), the first batch from the start of the training
                     set on which MXNet's own float32 step agrees with its float64 step to 1e-5
                     (choose_batch says why: most batches hold a ReLU or max-pool decision within
                     float32 round-off, which no float32 implementation can be compared across)
  train.start, train.f32_vs_f64, train.rejected_starts, train.rejected_f32_vs_f64
                     where that batch starts, and the float32-vs-float64 difference of the chosen
                     batch and of each rejected one (the step's round-off floor)
  train.logits, train.loss_sum
                     the batch's logits and d2l's summed loss before the step
  probe.logits       eval images' logits after ONE d2l step: `with autograd.record(): l =
                     loss(net(X), y).sum()`, `l.backward()`, `trainer.step(16)`, with
                     gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
  update.<name>.sum / .norm / .delta_sum / .delta_norm
                     per parameter after the step (float64 statistics), delta = new - old
  update.first_conv  B1's conv weight after the step, in full (OIHW)
  update.dense_delta the Dense layer's weight change, in full ((out, in))
"""
from __future__ import annotations

import argparse
import gzip
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import mxnet as mx  # noqa: E402
import seeded  # noqa: E402
from mxnet import autograd, gluon, init, nd  # noqa: E402
from mxnet.gluon import loss as gloss  # noqa: E402
from mxnet.gluon import nn  # noqa: E402
from mxnet.gluon.data.vision import transforms  # noqa: E402

SEED = 0
N_EVAL, N_TRAIN, N_NOISE = 8, 16, 4
CONDITION_TOL = 1e-5


# ----------------------------------------------------------------------------- the seed, verbatim
# (the seed article's code; only `import d2lzh as d2l` is left out: the few d2l lines used are below)

class Inception(nn.Block):
    def __init__(self, c1, c2, c3, c4, **kwargs):
        super().__init__(**kwargs)
        # 线路1,单1x1卷积层
        self.p1 = nn.Conv2D(c1, kernel_size=1, activation='relu')
        # 线路2,1x1卷积层后接3x3卷积层
        self.p2_1 = nn.Conv2D(c2[0], kernel_size=1, activation='relu')
        self.p2_2 = nn.Conv2D(c2[1], kernel_size=3, padding=1, activation='relu')
        # 线路3,1x1卷积层后接5x5卷积层
        self.p3_1 = nn.Conv2D(c3[0], kernel_size=1, activation='relu')
        self.p3_2 = nn.Conv2D(c3[1], kernel_size=5, padding=2, activation='relu')
        # 线路4,3x3最大池化层后接1x1卷积层
        self.p4_1 = nn.MaxPool2D(pool_size=3, strides=1, padding=1)
        self.p4_2 = nn.Conv2D(c4, kernel_size=1, activation='relu')

    def forward(self, x):
        p1 = self.p1(x)
        p2 = self.p2_2(self.p2_1(x))
        p3 = self.p3_2(self.p3_1(x))
        p4 = self.p4_2(self.p4_1(x))
        return nd.concat(p1, p2, p3, p4, dim=1)  # 在通道维上连结输出


def seed_net():
    B1 = nn.Sequential()
    B1.add(nn.Conv2D(64, kernel_size=7, strides=2, padding=3, activation='relu'),
           nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    B2 = nn.Sequential()
    B2.add(nn.Conv2D(64, kernel_size=1, activation='relu'),
           nn.Conv2D(192, kernel_size=3, padding=1, activation='relu'),
           nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    B3 = nn.Sequential()
    B3.add(Inception(64, (96, 128), (16, 32), 32),
           Inception(128, (128, 192), (32, 96), 64),
           nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    B4 = nn.Sequential()
    B4.add(Inception(192, (96, 208), (16, 48), 64),
           Inception(160, (112, 224), (24, 64), 64),
           Inception(128, (128, 256), (24, 64), 64),
           Inception(112, (144, 288), (32, 64), 64),
           Inception(256, (160, 320), (32, 128), 128),
           nn.MaxPool2D(pool_size=3, strides=2, padding=1))
    B5 = nn.Sequential()
    B5.add(Inception(256, (160, 320), (32, 128), (128)),
           Inception(384, (192, 384), (48, 128), 128),
           nn.GlobalAvgPool2D())
    net = nn.Sequential()
    net.add(B1, B2, B3, B4, B5, nn.Dense(10))
    return net


# ----------------------------------------------------------------------------- the d2l lines used

def d2l_transformer():
    """d2l.load_data_fashion_mnist(batch_size, resize=96)'s per-image transform."""
    return transforms.Compose([transforms.Resize(96), transforms.ToTensor()])


def read_idx(path):
    """An IDX file (gzip or not) as a uint8 array."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 8:
        raise SystemExit(f"{path}: not a uint8 IDX file")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(data, split, n):
    images = read_idx(os.path.join(data, f"{split}-images-idx3-ubyte.gz"))[:n]
    labels = read_idx(os.path.join(data, f"{split}-labels-idx1-ubyte.gz"))[:n]
    return images, labels


def resize96(images):
    """MXNet's Resize(96) on each uint8 28x28 image (gluon's FashionMNIST yields HWC uint8 28x28x1)."""
    resize = transforms.Resize(96)
    out = [resize(nd.array(im[:, :, None], dtype=np.uint8)).asnumpy() for im in images]
    return np.stack(out)[..., 0]


def to_tensor(images96):
    """MXNet's ToTensor on uint8 96x96 images: float32 [N, 1, 96, 96]."""
    tt = transforms.ToTensor()
    return nd.stack(*[tt(nd.array(im[:, :, None], dtype=np.uint8)) for im in images96])



# ----------------------------------------------------------------------------- the training step

def seeded_net(dtype="float32"):
    """The seed network with every parameter from seeded.py; (net, params, the arrays set)."""
    net = seed_net()
    net.initialize(init=init.Xavier())
    net(nd.zeros((1, 1, 96, 96)))  # deferred shapes
    params = list(net.collect_params().values())
    arrays = seeded.mxnet_params(SEED, [(tuple(q.shape), seeded.mxnet_role(q.name)) for q in params])
    for q, a in zip(params, arrays):
        q.set_data(nd.array(a, dtype=np.float32))
    if dtype != "float32":
        net.cast(dtype)
    return net, params, arrays


def d2l_step(net, X, y):
    """d2l.train_ch5's loop body, for one batch: returns (y_hat, l) as MXNet computed them."""
    dtype = np.dtype(list(net.collect_params().values())[0].dtype)
    loss = gloss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
    X, y = nd.array(X, dtype=dtype), nd.array(np.asarray(y, np.float64), dtype=dtype)
    with autograd.record():
        y_hat = net(X)
        l = loss(y_hat, y).sum()
    l.backward()
    trainer.step(len(y))
    return y_hat, l


def choose_batch(data, lut, tol=CONDITION_TOL, max_batches=64):
    """The first batch of N_TRAIN consecutive training images on which MXNet's float32 step agrees with
    the same step in float64 to `tol` (max |delta32 - delta64| / max |delta64|, worst parameter).

    One SGD step is not continuous in its input: a ReLU whose pre-activation lies within float32
    round-off of 0, or a max-pool window whose two largest values do, decides by round-off which
    gradient flows. On most batches of real images some such decision moves an early layer's update by
    1e-4..1e-2 relative (MXNet float32 against MXNet float64, measured); no float32 implementation can
    be held to round-off there, MXNet included. A batch where float32 and float64 agree has no such
    decision, so a golden comparison at float32 tolerance means something. Returns
    (start, its f32-vs-f64 difference, [(rejected start, difference), ...]).
    """
    images, labels = load_split(data, "train", N_TRAIN * max_batches)
    rejected = []
    for start in range(0, len(labels) - N_TRAIN + 1, N_TRAIN):
        X = lut[resize96(images[start:start + N_TRAIN])][:, None]
        y = labels[start:start + N_TRAIN]
        deltas = {}
        for dtype in ("float32", "float64"):
            net, params, before = seeded_net(dtype)
            d2l_step(net, X, y)
            deltas[dtype] = [q.data().asnumpy().astype(np.float64) - b for q, b in zip(params, before)]
        worst = max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(deltas["float32"], deltas["float64"]))
        print(f"  batch at {start}: float32 step vs float64 step, worst parameter {worst:.2e}", flush=True)
        if worst <= tol:
            return start, worst, rejected
        rejected.append((start, worst))
    raise SystemExit(f"no batch of {N_TRAIN} among the first {len(labels)} training images steps alike in "
                     f"float32 and float64 (to {tol:g})")


# ----------------------------------------------------------------------------- the reference

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="Fashion-MNIST IDX .gz files")
    p.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "seed_mxnet.npz"))
    args = p.parse_args(argv)
    mx.random.seed(SEED)
    out = {"seed": np.int64(SEED)}

    # ToTensor, exactly: a lookup table for every uint8 value.
    lut = transforms.ToTensor()(nd.array(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), dtype=np.uint8))
    lut = lut.asnumpy().reshape(256)
    out["totensor_lut"] = lut

    # The seed network, its parameters set from seeded.py in collect_params order.
    net, params, arrays = seeded_net("float32")
    shapes_roles = [(tuple(q.shape), seeded.mxnet_role(q.name)) for q in params]
    loaded = [q.data().asnumpy() for q in params]
    assert all(np.array_equal(a, b) for a, b in zip(arrays, loaded))
    out["params.names"] = np.array([seeded.mxnet_name(i) for i in range(len(params))])
    out["params.gluon"] = np.array([q.name for q in params])
    out["params.roles"] = np.array([r for _, r in shapes_roles])
    out["params.ndim"] = np.array([len(s) for s, _ in shapes_roles], np.int64)
    out["params.shapes"] = np.array([d for s, _ in shapes_roles for d in s], np.int64)
    out["params.digest"] = np.array(seeded.digest_all(loaded))

    # Real images as d2l feeds them: Resize(96) then ToTensor.
    eval_u8, eval_y = load_split(args.data, "t10k", N_EVAL)
    eval96 = resize96(eval_u8)
    X_eval = to_tensor(eval96)
    via_d2l = nd.stack(*[d2l_transformer()(nd.array(im[:, :, None], dtype=np.uint8)) for im in eval_u8])
    assert np.array_equal(via_d2l.asnumpy(), X_eval.asnumpy()), "Resize+ToTensor composed differs"
    assert np.array_equal(lut[eval96][:, None], X_eval.asnumpy()), "ToTensor is not the lookup table"
    out["eval.images"], out["eval.labels"] = eval96, eval_y.astype(np.int64)
    out["eval.logits"] = net(X_eval).asnumpy()

    noise = seeded.inputs(SEED, "noise", (N_NOISE, 1, 96, 96))
    out["noise.key"] = np.array("noise")
    out["noise.digest"] = np.array(seeded.digest(noise))
    out["noise.logits"] = net(nd.array(noise)).asnumpy()

    # Stage outputs for eval image 0.
    x = X_eval[:1]
    for name, block in zip(("B1", "B2", "B3", "B4", "B5", "dense"), net):
        x = block(x)
        out.update(seeded.compact(f"stage.{name}", x.asnumpy()))

    # One d2l training step (train_ch5's loop body) on a well-conditioned batch (see choose_batch).
    start, f32_vs_f64, rejected = choose_batch(args.data, lut)
    train_u8, train_y = load_split(args.data, "train", start + N_TRAIN)
    train_u8, train_y = train_u8[start:], train_y[start:]
    train96 = resize96(train_u8)
    out["train.start"], out["train.f32_vs_f64"] = np.int64(start), np.float64(f32_vs_f64)
    out["train.rejected_starts"] = np.array([r[0] for r in rejected], np.int64)
    out["train.rejected_f32_vs_f64"] = np.array([r[1] for r in rejected], np.float64)
    out["train.images"], out["train.labels"] = train96, train_y.astype(np.int64)
    net, params, before = seeded_net("float32")
    y_hat, l = d2l_step(net, lut[train96][:, None], train_y)
    out["train.logits"] = y_hat.asnumpy()
    out["train.loss_sum"] = np.float64(l.asscalar())
    out["probe.logits"] = net(X_eval).asnumpy()
    for i, (q, old) in enumerate(zip(params, before)):
        new = q.data().asnumpy()
        name = seeded.mxnet_name(i)
        delta = new.astype(np.float64) - old.astype(np.float64)
        out[f"update.{name}.sum"] = np.float64(new.astype(np.float64).sum())
        out[f"update.{name}.norm"] = np.float64(np.linalg.norm(new.astype(np.float64)))
        out[f"update.{name}.delta_sum"] = np.float64(delta.sum())
        out[f"update.{name}.delta_norm"] = np.float64(np.linalg.norm(delta))
    out["update.first_conv"] = params[0].data().asnumpy()
    out["update.dense_delta"] = (params[-2].data().asnumpy() - before[-2]).astype(np.float32)
    assert params[-2].name.endswith("weight") and params[-2].shape == (10, 1024)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out} ({os.path.getsize(args.out):,} bytes; mxnet {mx.__version__}, numpy {np.__version__})")
    print(f"  {len(params)} parameters ({sum(a.size for a in arrays):,} values, seed {SEED}), "
          f"eval {eval96.shape} labels {eval_y.tolist()}, noise {noise.shape}, train {train96.shape}")
    print(f"  eval logits[0] {np.round(out['eval.logits'][0], 4).tolist()}")
    print(f"  loss sum before the step {out['train.loss_sum']:.6f}; probe logits[0] after "
          f"{np.round(out['probe.logits'][0], 4).tolist()}")
    for k in sorted(k for k in out if k.startswith("stage.") and k.endswith(".shape")):
        print(f"  {k[:-6]}: {tuple(out[k])}")


if __name__ == "__main__":
    main()

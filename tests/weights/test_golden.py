"""Golden references: our networks against the originals' own code, numerically.

The fixtures in tests/fixtures/ were written by the originals' code (tools/reference/mxnet_seed.py in
MXNet 1.9.1, tools/reference/torchvision_googlenet.py in torchvision 0.29.1; `make golden` rewrites
them). They hold no weights: tools/reference/seeded.py regenerates every weight from (seed, name,
shape), and each fixture records a digest of what the original loaded, so a changed generator is told
apart from a changed network. Only NumPy, Keras and TensorFlow are needed here.

Tolerances: relative = max |ours - theirs| / max |theirs| over the compared tensor; logits are also held to an
absolute bound. Each is a few (3-5) times the error measured on this project's CPU (AMD EPYC Zen 4), stated beside
it as "measured": float32 round-off in a different order of operations, and nothing more.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import seeded  # noqa: E402
from conftest import lazy  # noqa: E402

import inception_keras as ik  # noqa: E402
from inception_keras.errors import ConfigError  # noqa: E402
from inception_keras.weights import torchvision as W  # noqa: E402

pytestmark = pytest.mark.golden

keras = lazy("keras")  # imported by the tests that use it (docs/testing.md)

SEED_ARCH = os.path.join(ROOT, "arch", "googlenet.yaml")
BN_ARCH = os.path.join(ROOT, "arch", "googlenet_bn.yaml")
IMAGENET_ARCH = os.path.join(ROOT, "arch", "googlenet_bn_imagenet.yaml")
# torchvision module -> our layer whose output is the same tensor
TV_LAYERS = {"conv1": "b1.conv1.relu", "maxpool1": "b1.maxpool1", "maxpool2": "b2.maxpool1",
             "inception3b": "3b", "inception4a": "4a", "inception4d": "4d", "maxpool4": "b4.maxpool1",
             "inception5b": "5b", "avgpool": "b5.adaptive_avgpool1"}
SEED_STAGES = {"B1": "b1", "B2": "b2", "B3": "b3", "B4": "b4", "B5": "b5", "dense": "head"}


def rel(ours, theirs) -> tuple[float, float]:
    """(max absolute difference, that divided by max |theirs|)."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, f"shape {ours.shape} != {theirs.shape}"
    diff = float(np.max(np.abs(ours - theirs)))
    return diff, diff / max(float(np.max(np.abs(theirs))), 1e-30)


def close(what, ours, theirs, rtol, atol=None):
    """Assert the relative difference <= rtol and, where given, the absolute one <= atol; return the relative."""
    a, r = rel(ours, theirs)
    print(f"{what}: max abs diff {a:.3g}, relative {r:.3g}")
    assert r <= rtol, f"{what}: max abs diff {a:.3g}, relative {r:.3g} > {rtol:g}"
    assert atol is None or a <= atol, f"{what}: max abs diff {a:.3g} > {atol:g}"
    return r


def npz(name) -> dict:
    with np.load(os.path.join(FIXTURES, name), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def shapes(ref, prefix) -> list:
    dims, flat, out, i = ref[f"{prefix}.ndim"], ref[f"{prefix}.shapes"], [], 0
    for n in dims:
        out.append(tuple(int(d) for d in flat[i:i + n]))
        i += n
    return out


def compare_compact(what, ref, prefix, ours_nchw, rtol):
    """Compare our activation (NCHW) with a seeded.compact summary; return the worst relative difference."""
    shape = tuple(int(d) for d in ref[f"{prefix}.shape"])
    assert ours_nchw.shape == shape, f"{what}: our shape {ours_nchw.shape} (NCHW) != the original's {shape}"
    if f"{prefix}.full" in ref:
        return close(f"{what} (all {ours_nchw.size} values)", ours_nchw, ref[f"{prefix}.full"], rtol)
    ours = np.asarray(ours_nchw, np.float32)
    worst = close(f"{what} (sample)", ours.ravel()[seeded.sample_index(ours.size)], ref[f"{prefix}.sample"], rtol)
    axes = tuple(a for a in range(ours.ndim) if a != 1)
    worst = max(worst, close(f"{what} (channel max)", ours.max(axis=axes), ref[f"{prefix}.channel_max"], rtol))
    mean = ours.astype(np.float64).mean(axis=axes)
    scale = max(float(np.abs(ref[f"{prefix}.channel_max"]).max()), 1e-30)  # means near 0: relative to the range
    a = float(np.max(np.abs(mean - ref[f"{prefix}.channel_mean"])))
    print(f"{what} (channel mean): max abs diff {a:.3g}, relative to the max {a / scale:.3g}")
    assert a / scale <= rtol, f"{what} (channel mean): max abs diff {a:.3g}"
    return worst


def nchw(x, like=None):
    """Our NHWC activation in the original's NCHW layout; (N, C) as (N, C, 1, 1) when `like` is 4-D
    (MXNet's and torchvision's global pooling keep the 1x1)."""
    x = np.asarray(x)
    if x.ndim == 4:
        return x.transpose(0, 3, 1, 2)
    if x.ndim == 2 and like is not None and len(like) == 4:
        return x.reshape(x.shape + (1, 1))
    return x


# ----------------------------------------------------------------------------- the seed (d2l, MXNet)


@pytest.fixture(scope="module")
def seed_ref():
    return npz("seed_mxnet.npz")


def seed_params(ref):
    names = [str(n) for n in ref["params.names"]]
    roles = [str(r) for r in ref["params.roles"]]
    arrays = seeded.mxnet_params(int(ref["seed"]), list(zip(shapes(ref, "params"), roles)))
    assert seeded.digest_all(arrays) == str(ref["params.digest"]), \
        "seeded.py no longer generates the weights MXNet was given (NumPy's stream changed?): run `make golden`"
    return names, arrays


def seed_model(ref):
    model = ik.build_model(SEED_ARCH)
    names, arrays = seed_params(ref)
    mapped = W.gluon_to_keras(arrays, model, names)
    return model, dict(zip(names, arrays)), dict(mapped)


def seed_images(ref, key):
    """uint8 [N, 96, 96] -> what MXNet's ToTensor fed its net, NHWC."""
    return ref["totensor_lut"][ref[key]][..., None]


@pytest.fixture(scope="module")
def seed_net(seed_ref):
    return seed_model(seed_ref)[0]


def test_seed_logits_match_mxnet(seed_ref, seed_net):
    assert np.array_equal(seed_ref["totensor_lut"], np.arange(256, dtype=np.float32) / np.float32(255))
    x = seed_images(seed_ref, "eval.images")
    # measured 2.9e-6 abs, 1.2e-6 relative
    close("seed, real images, logits", seed_net(x, training=False), seed_ref["eval.logits"], 5e-6, atol=1.2e-5)
    noise = seeded.inputs(int(seed_ref["seed"]), str(seed_ref["noise.key"]), (4, 1, 96, 96))
    assert seeded.digest(noise) == str(seed_ref["noise.digest"]), "seeded.inputs changed: run `make golden`"
    close("seed, N(0,1) noise, logits", seed_net(noise.transpose(0, 2, 3, 1), training=False),
          seed_ref["noise.logits"], 5e-6, atol=5e-5)  # measured 1.3e-5 abs, 1.4e-6 relative


def test_seed_stage_outputs_match_mxnet(seed_ref, seed_net):
    last = {}
    for layer in seed_net.layers:
        stage = layer.name.split(".", 1)[0]
        last[stage] = layer.name
    outputs = [seed_net.get_layer(last[s]).output for s in SEED_STAGES.values()]
    probe = keras.Model(seed_net.input, outputs)
    got = probe(seed_images(seed_ref, "eval.images")[:1], training=False)
    for (theirs, ours), y in zip(SEED_STAGES.items(), got):  # measured at most 1.1e-6 relative (B5)
        compare_compact(f"seed stage {theirs} ({last[ours]})", seed_ref, f"stage.{theirs}",
                        nchw(keras.ops.convert_to_numpy(y), seed_ref[f"stage.{theirs}.shape"]), 5e-6)


def test_seed_one_training_step_matches_d2l(seed_ref):
    """d2l's train_ch5 step: `loss(net(X), y).sum()`, backward, `trainer.step(N)` with SGD lr 0.1, i.e.
    SGD on the mean loss: here keras SGD(0.1) on mean-reduced sparse categorical cross-entropy.

    The forward pass agrees to float32 round-off. The update cannot, everywhere: one step is not
    continuous in its input. Where a max-pool window's two largest values (or a ReLU's input and 0)
    lie within float32 round-off of each other, round-off decides where the gradient flows. Real
    images hold hundreds of such windows per batch (mostly in flat background, where it does not
    matter); on most batches some decision moves MXNet's own float32 update away from its float64
    update by 1e-4..1e-2 somewhere (measured; mxnet_seed.choose_batch). The fixture's batch is one where
    MXNet's float32 and float64 steps agree (to 5e-6); on it, ours follows MXNet's to round-off in every
    layer above inception 3b and differs below it by at most ~1e-4 (per-parameter update sums and norms):
    two windows of the b3 max pool (sample 8, channels 75 and 432) whose top two values are 1e-6 and 1e-7
    apart pick different maxima in TensorFlow and MXNet (found by comparing the gradients at every
    block boundary). Hence: a few times round-off for the logits and loss before the step and for the Dense
    layer's change (above every such decision); 1e-3 for the per-parameter sums and norms of the change, 5e-5
    for those of the updated weights, 4e-5 for the first conv's updated weights and 1e-4 for the logits after
    the step (measured: 1.1e-4, 6e-6, 1e-5, 4.5e-5). A wrong loss reduction, learning rate, update rule,
    label or weight mapping is off by far more.
    """
    import tensorflow as tf

    model, old, where = seed_model(seed_ref)
    X = seed_images(seed_ref, "train.images")
    y = seed_ref["train.labels"]
    n = len(y)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    opt = keras.optimizers.SGD(learning_rate=0.1)
    with tf.GradientTape() as tape:
        logits = model(X, training=True)
        loss = loss_fn(y, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))
    print(f"seed step on training images {int(seed_ref['train.start'])}..{int(seed_ref['train.start']) + n - 1}: "
          f"MXNet's own float32 step differs from its float64 step by {float(seed_ref['train.f32_vs_f64']):.2g} "
          "(worst parameter, relative to its largest change)")
    # measured 3.9e-6 abs, 1.6e-6 relative; the summed loss 1.1e-5 abs, 2.7e-7 relative
    close("seed step, logits before", logits, seed_ref["train.logits"], 7e-6, atol=1.6e-5)
    close("seed step, summed loss", float(loss) * n, seed_ref["train.loss_sum"], 1.5e-6, atol=5e-5)

    variables = {v.path: v for v in model.weights}
    worst = {}
    for name, path in where.items():
        new = np.asarray(keras.ops.convert_to_numpy(variables[path]), np.float64)
        if new.ndim == 4:
            new = new.transpose(3, 2, 0, 1)
        elif new.ndim == 2:
            new = new.T
        delta = new - old[name].astype(np.float64)
        for stat, value, scale in (("sum", new.sum(), np.abs(new).sum()), ("norm", np.linalg.norm(new), None),
                                   ("delta_sum", delta.sum(), np.abs(delta).sum()),
                                   ("delta_norm", np.linalg.norm(delta), None)):
            ref = float(seed_ref[f"update.{name}.{stat}"])
            r = abs(value - ref) / max(scale if scale is not None else abs(ref), 1e-30)
            if r > worst.get(stat, (0,))[0]:
                worst[stat] = (r, path)
            tol = 1e-3 if stat.startswith("delta") else 5e-5
            assert r <= tol, f"{name} ({path}) {stat}: ours {value!r}, MXNet's {ref!r} (relative {r:.2g})"
    for stat, (r, path) in worst.items():
        print(f"seed step, per-parameter {stat}: worst relative difference {r:.3g} ({path})")
    first = keras.ops.convert_to_numpy(model.get_layer(where["param000"].split("/")[0]).kernel).transpose(3, 2, 0, 1)
    close("seed step, first conv after the step", first, seed_ref["update.first_conv"], 4e-5)  # measured 9.8e-6
    dense = f"param{len(where) - 2:03d}"
    close("seed step, dense weight change", keras.ops.convert_to_numpy(variables[where[dense]]).T - old[dense],
          seed_ref["update.dense_delta"], 3e-6)  # measured 5.9e-7
    # measured 4.1e-3 abs, 4.5e-5 relative: the max-pool decisions below 3b (the docstring)
    close("seed step, probe logits after", model(seed_images(seed_ref, "eval.images"), training=False),
          seed_ref["probe.logits"], 1e-4, atol=1.6e-2)


def test_opencv_resize_is_mxnet_resize_bit_for_bit():
    """`dataset.resize: opencv` gives the seed's input exactly: MXNet's Resize (OpenCV's 8-bit bilinear),
    up and down, square or not, grey and RGB (tests/fixtures/mxnet_resize.npz, tools/reference/mxnet_resize.py)."""
    import tensorflow as tf

    from inception_keras.data import pipeline as D
    from inception_keras.data.images import opencv_resize
    from inception_keras.data.splits import Split

    ref = npz("mxnet_resize.npz")
    for name in (str(n) for n in ref["case.names"]):
        raw, (width, height), want = ref[f"{name}.raw"], ref[f"{name}.size"], ref[f"{name}.out"]
        got = opencv_resize(tf, tf.constant(raw), int(height), int(width)).numpy()
        assert got.dtype == np.uint8 and got.shape == want.shape, name
        assert np.array_equal(got, want), f"{name}: {int((got != want).sum())} of {want.size} values differ"
    raw, want = ref["fmnist_96.raw"], ref["fmnist_96.out"]
    split = Split(len(raw), images=raw, labels=np.zeros(len(raw), np.int32))
    exact, _ = next(iter(D.pipeline(split, (96, 96, 1), 8, training=False, resize="opencv", stored_channels=1)))
    assert np.array_equal(exact.numpy(), ref_totensor(want)), "the opencv pipeline is not what MXNet's ToTensor gets"
    floats, _ = next(iter(D.pipeline(split, (96, 96, 1), 8, training=False, stored_channels=1)))
    diff = np.abs(floats.numpy() * 255 - want)
    print(f"float32 resize vs MXNet's uint8 Resize(96): max {diff.max():.3f}/255, mean {diff.mean():.3f}/255")
    assert 0.5 < diff.max() < 1  # the default path: a float resize, within one grey level of d2l's


def ref_totensor(u8):
    return u8.astype(np.float32) / np.float32(255)


# ----------------------------------------------------------------------------- torchvision


def tv_ref(size):
    return npz(f"torchvision_googlenet_{size}.npz")


def tv_state(ref) -> dict:
    keys = [str(k) for k in ref["state.keys"]]
    state = seeded.torchvision_state_dict(int(ref["seed"]), list(zip(keys, shapes(ref, "state"))))
    assert seeded.digest_all([state[k] for k in keys]) == str(ref["state.digest"]), \
        "seeded.py no longer generates the state dict torchvision was given: run `make golden`"
    return state


def tv_input(ref):
    x = seeded.inputs(int(ref["seed"]), str(ref["input.key"]), tuple(int(d) for d in ref["input.shape"]))
    assert seeded.digest(x) == str(ref["input.digest"]), "seeded.inputs changed: run `make golden`"
    return x.transpose(0, 2, 3, 1)


@pytest.fixture(scope="module")
def state224():
    return tv_state(tv_ref(224))


def bn_model(size, aux=False):
    spec = ik.load_arch(BN_ARCH, sets=[("input", [size, size, 3])]) if size != 224 else BN_ARCH
    return ik.build_model(spec, aux=aux)


# torchvision against ours: activations measured at most 2.0e-6 relative (5b at 200 px), logits 7.0e-7 relative and
# 4.2e-5 abs (200 px), aux heads 8.9e-7 relative and 3.4e-5 abs
TV_ACT_RTOL, TV_LOGITS_RTOL, TV_LOGITS_ATOL = 8e-6, 3.5e-6, 1.6e-4


def check_torchvision(ref, model, rtol=TV_ACT_RTOL):
    """Activations, in network order (the first mismatch is the one reported), then the logits."""
    names = [n for n in TV_LAYERS if f"act.{n}.shape" in ref]
    probe = keras.Model(model.input, [model.get_layer(TV_LAYERS[n]).output for n in names])
    x = tv_input(ref)
    got = [nchw(keras.ops.convert_to_numpy(y), ref[f"act.{n}.shape"]) for n, y in zip(names, probe(x, training=False))]
    for n, y in zip(names, got):  # shapes first: ceil_mode pooling shows up here
        want = tuple(int(d) for d in ref[f"act.{n}.shape"])
        assert y.shape == want, f"after {n} ({TV_LAYERS[n]}): our shape {y.shape} (NCHW) != torchvision's {want}"
    for n, y in zip(names, got):
        compare_compact(f"{n} ({TV_LAYERS[n]})", ref, f"act.{n}", y, rtol)
    size = int(ref["input.shape"][-1])
    return close(f"torchvision {size}px logits", model(x, training=False), ref["logits"], TV_LOGITS_RTOL,
                 atol=TV_LOGITS_ATOL)


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_torchvision_224_logits(fmt, state224, tmp_path):
    path = str(tmp_path / f"googlenet.{fmt}")
    if fmt == "npz":
        np.savez(path, **state224)
    else:
        W.write_safetensors(path, state224)
    loaded = W.load_state_dict(path)
    # a .safetensors file's keys are in the order the safetensors library lays them out (by dtype, then name)
    assert (list(loaded) if fmt == "npz" else sorted(loaded)) == (list(state224) if fmt == "npz" else sorted(state224))
    assert all(np.array_equal(loaded[k], state224[k]) and loaded[k].dtype == state224[k].dtype for k in state224)
    model = bn_model(224)
    report = W.torchvision_to_keras(loaded, model, source=path)
    print(report)
    assert len(report.mapped) + len(report.skipped) + len(report.ignored) == len(state224)
    if not any(layer.name.startswith("aux") for layer in model.layers):
        aux = sorted(k for k in state224 if k.startswith("aux") and not k.endswith("num_batches_tracked"))
        assert sorted(k for k, _ in report.skipped) == aux and len(aux) == 18
        assert "skipped 18 keys (aux1.*, aux2.*): the architecture has no such aux head" in str(report)
    check_torchvision(tv_ref(224), model)


@pytest.mark.parametrize("size", [299, 200])
def test_torchvision_other_sizes(size):
    ref = tv_ref(size)
    model = bn_model(size)
    W.torchvision_to_keras(tv_state(ref), model)
    check_torchvision(ref, model)


def test_torchvision_aux_heads(state224):
    ref = tv_ref(224)
    model = bn_model(224, aux=True)
    assert isinstance(model.output, dict) and {"aux1", "aux2"} <= set(model.output), \
        "googlenet_bn.yaml declares no aux heads aux1 / aux2"
    report = W.torchvision_to_keras(state224, model)
    assert not report.skipped
    out = model(tv_input(ref), training=False)
    close("torchvision aux1 logits", out["aux1"], ref["aux1.logits"], TV_LOGITS_RTOL, atol=TV_LOGITS_ATOL)
    close("torchvision aux2 logits", out["aux2"], ref["aux2.logits"], TV_LOGITS_RTOL, atol=TV_LOGITS_ATOL)
    close("torchvision main logits (training model)", out["logits"], ref["logits"], TV_LOGITS_RTOL,
          atol=TV_LOGITS_ATOL)


def test_imagenet_input_normalization_matches_transform_input():
    """torchvision's pretrained path: [0, 1] images, ImageNet-normalised, into googlenet(transform_input=True)
    (the fixture) against googlenet_bn_imagenet.yaml given the raw [0, 1] images: its input.normalize layer
    is all that stands for both steps."""
    ref = npz("torchvision_googlenet_imagenet.npz")
    assert bool(ref["transform_input"])
    x = seeded.images(int(ref["seed"]), str(ref["images.key"]), tuple(int(d) for d in ref["images.shape"]))
    assert seeded.digest(x) == str(ref["images.digest"]), "seeded.images changed: run `make golden`"
    assert x.min() >= 0 and x.max() <= 1
    # torchvision's transform_input after the ImageNet normalisation is (x - 0.5) / 0.5: what the YAML declares
    mean, std = ref["mean"][None, :, None, None], ref["std"][None, :, None, None]
    transformed = (x - mean) / std * (std / 0.5) + (mean - 0.5) / 0.5
    spec = ik.load_arch(IMAGENET_ARCH)
    m, s = (np.array(v)[None, :, None, None] for v in spec.normalize.per_channel(3))
    assert np.max(np.abs(transformed - (x - m) / s)) < 1e-6
    state = tv_state(ref)
    model = ik.build_model(spec)
    report = W.torchvision_to_keras(state, model)
    assert not report.skipped and len(report.mapped) == 287  # the state dict of aux_logits=False: no aux keys
    x = x.transpose(0, 2, 3, 1)
    close("torchvision transform_input=True on ImageNet-normalised images vs ours on [0, 1] images",
          model(x, training=False), ref["logits"], TV_LOGITS_RTOL, atol=TV_LOGITS_ATOL)  # measured 2.7e-5, 7.9e-7
    plain = bn_model(224)  # the same weights without the declared input: far off
    W.torchvision_to_keras(state, plain)
    assert rel(plain(x, training=False), ref["logits"])[1] > 0.1


# ----------------------------------------------------------------------------- the importer itself


def _tiny_aux_model(channels_first_flatten: bool):
    """torchvision's structure in miniature: 3 stem convs, an aux head (conv1 -> flatten -> dense1 ->
    dense2) on the last one, a classifier; named as our YAMLs name layers."""
    L = keras.layers
    inp = keras.Input((4, 4, 3))

    def conv(x, name, filters):
        x = L.Conv2D(filters, 1, use_bias=False, name=name)(x)
        x = L.BatchNormalization(epsilon=1e-3, name=f"{name}.bn")(x)
        return L.Activation("relu", name=f"{name}.relu")(x)

    x = conv(conv(conv(inp, "b1.conv1", 5), "b2.conv1", 6), "b2.conv2", 7)
    a = conv(x, "aux1.conv1", 3)
    if channels_first_flatten:
        a = L.Permute((3, 1, 2), name="aux1.to_channels_first")(a)
    a = L.Flatten(name="aux1.flatten1")(a)
    a = L.Dense(8, activation="relu", name="aux1.dense1")(a)
    a = L.Dropout(0.7, name="aux1.dropout1")(a)
    a = L.Dense(4, name="aux1.dense2")(a)
    m = L.Dense(4, name="head.dense1")(L.GlobalAveragePooling2D(name="b5.gap")(x))
    return keras.Model(inp, {"logits": m, "aux1": a, "b2": x})


def _tiny_state(seed=0):
    shapes = {"conv1": (5, 3, 1, 1), "conv2": (6, 5, 1, 1), "conv3": (7, 6, 1, 1), "aux1.conv": (3, 7, 1, 1)}
    keys = []
    for p, s in shapes.items():
        keys.append((f"{p}.conv.weight", s))
        keys += [(f"{p}.bn.{leaf}", (s[0],)) for leaf in ("weight", "bias", "running_mean", "running_var")]
        keys.append((f"{p}.bn.num_batches_tracked", ()))
    keys += [("aux1.fc1.weight", (8, 48)), ("aux1.fc1.bias", (8,)), ("aux1.fc2.weight", (4, 8)),
             ("aux1.fc2.bias", (4,)), ("fc.weight", (4, 7)), ("fc.bias", (4,))]
    return seeded.torchvision_state_dict(seed, keys)


def _torch_aux(state, x_nhwc):
    """torchvision's InceptionAux after its pooling, in NumPy: BasicConv2d, flatten(1) channels-first, fc1,
    relu, fc2."""
    x = np.einsum("nhwc,oc->nohw", x_nhwc, state["aux1.conv.conv.weight"][:, :, 0, 0])
    p = "aux1.conv.bn."
    x = (x - state[p + "running_mean"][:, None, None]) / np.sqrt(state[p + "running_var"][:, None, None] + 1e-3)
    x = np.maximum(x * state[p + "weight"][:, None, None] + state[p + "bias"][:, None, None], 0)
    x = np.maximum(x.reshape(len(x), -1) @ state["aux1.fc1.weight"].T + state["aux1.fc1.bias"], 0)
    return x @ state["aux1.fc2.weight"].T + state["aux1.fc2.bias"]


@pytest.mark.parametrize("channels_first_flatten", [False, True])
def test_aux_head_flatten_order(channels_first_flatten):
    """fc1's input rows follow torch's channels-first flatten whatever order the Keras head flattens in."""
    model = _tiny_aux_model(channels_first_flatten)
    state = _tiny_state()
    report = W.torchvision_to_keras(state, model)
    assert not report.skipped and len(report.ignored) == 4
    x = seeded.inputs(1, "tiny", (2, 4, 4, 3))
    out = model(x, training=False)
    theirs = _torch_aux(state, keras.ops.convert_to_numpy(out["b2"]))
    close("tiny aux head vs NumPy torch", out["aux1"], theirs, 1e-6, atol=1e-6)  # measured 2.4e-7 abs, 2.2e-7
    wrong = "channels_first" if not channels_first_flatten else "channels_last"
    W.torchvision_to_keras(state, model, flatten_order=wrong)
    assert rel(model(x, training=False)["aux1"], theirs)[1] > 1e-3  # the order matters in this test


@pytest.fixture(scope="module")
def bn224():
    return bn_model(224)


@pytest.mark.parametrize("case", ["missing", "unknown", "shape", "shape_bn"])
def test_importer_errors_name_the_key(case, state224, bn224):
    state = dict(state224)
    if case == "missing":
        key = "inception4b.branch3.1.conv.weight"
        del state[key]
    elif case == "unknown":
        key = "inception9z.branch1.conv.weight"
        state[key] = np.zeros((3, 3, 1, 1), np.float32)
    elif case == "shape":
        key = "fc.weight"
        state[key] = np.zeros((999, 1024), np.float32)
    else:
        key = "inception3a.branch2.1.bn.running_var"
        state[key] = np.ones(127, np.float32)
    with pytest.raises(ConfigError) as e:
        W.torchvision_to_keras(state, bn224, source="sd.npz")
    assert key in str(e.value) and e.value.exit_code == 2
    assert len(e.value.problems) == 1, str(e.value)
    print(e.value)


def test_import_torchvision_writes_weights(state224, tmp_path):
    sd = str(tmp_path / "g.safetensors")
    W.write_safetensors(sd, state224)
    out = str(tmp_path / "g.weights.h5")
    report = W.import_torchvision(sd, BN_ARCH, out)
    # 57 convs x (kernel + 4 BN tensors) + fc's 2, and 18 more for both aux heads (conv + 4 BN + fc1, fc2: 9 each)
    assert len(report.mapped) == 287 + (0 if report.skipped else 18)
    assert len(report.mapped) + len(report.skipped) + len(report.ignored) == len(state224) == 364
    assert os.path.getsize(out) > 20_000_000
    with pytest.raises(ConfigError, match="weights.h5 or .keras"):
        W.import_torchvision(sd, BN_ARCH, str(tmp_path / "g.bin"))
    with pytest.raises(ConfigError, match="unknown state dict format"):
        W.load_state_dict(out)


def test_safetensors_dtypes_round_trip(tmp_path):
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(4, dtype=np.int64),
               "c": np.array([1.5, -2.0], np.float16), "scalar": np.float64(3.25)}
    path = str(tmp_path / "t.safetensors")
    W.write_safetensors(path, tensors, metadata={"format": "pt"})
    got = W.read_safetensors(path)
    assert set(got) == set(tensors)
    for k, v in tensors.items():
        assert got[k].dtype == np.asarray(v).dtype and np.array_equal(got[k], v)
    with open(path, "r+b") as f:
        f.write((10 ** 9).to_bytes(8, "little"))
    with pytest.raises(ConfigError, match="not a safetensors file"):
        W.read_safetensors(path)


def test_safetensors_bfloat16_reads_as_float32(tmp_path):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    path = str(tmp_path / "bf16.safetensors")
    W.write_safetensors(path, {"w": np.array([1.5, -2.0, 3.0], ml_dtypes.bfloat16)})
    got = W.read_safetensors(path)["w"]
    assert got.dtype == np.float32 and got.tolist() == [1.5, -2.0, 3.0]


def test_fixtures_are_small():
    names = sorted(n for n in os.listdir(FIXTURES) if n.endswith(".npz"))
    assert {"seed_mxnet.npz", "torchvision_googlenet_224.npz", "torchvision_googlenet_299.npz",
            "torchvision_googlenet_200.npz", "torchvision_googlenet_imagenet.npz", "mxnet_resize.npz",
            "timm_inception_v4_299.npz", "timm_inception_v4_139.npz", "torchvision_inception_v3_299.npz",
            "torchvision_inception_v3_139.npz"} <= set(names)
    for n in names:
        size = os.path.getsize(os.path.join(FIXTURES, n))
        assert size < 1_000_000, f"{n}: {size:,} bytes"


def test_gluon_mapping_errors_name_the_parameter(seed_ref, seed_net):
    names, arrays = seed_params(seed_ref)
    arrays = list(arrays)
    arrays[7] = np.zeros(63, np.float32)  # 3a's 1x1 bias has 64
    with pytest.raises(ConfigError, match=r"param007: shape \(63,\) does not fit 3a.1x1/bias \(64,\)"):
        W.gluon_to_keras(arrays, seed_net, names)
    with pytest.raises(ConfigError, match="115 gluon parameters for 116 Keras weights"):
        W.gluon_to_keras(arrays[:-1], seed_net, names[:-1])


def test_pth_state_dict(tmp_path, state224):
    """Only where torch is installed (not a project dependency): .pth, wrapped in {"state_dict": ...}."""
    torch = pytest.importorskip("torch")
    path = str(tmp_path / "g.pth")
    torch.save({"state_dict": {k: torch.from_numpy(np.array(v)) for k, v in state224.items()}}, path)
    loaded = W.load_state_dict(path)
    assert list(loaded) == list(state224) and all(np.array_equal(loaded[k], state224[k]) for k in state224)


def test_parameter_counts_are_the_originals():
    """The counts README and docs/results.md give, from the shapes the originals recorded in the fixtures (what
    MXNet's net.collect_params() and torchvision's state_dict() held), not from our own summary."""
    mxnet = shapes(npz("seed_mxnet.npz"), "params")
    assert len(mxnet) == 116
    assert sum(int(np.prod(s)) for s in mxnet) == load_count(SEED_ARCH, "params") == 5_977_530
    ref = tv_ref(224)
    sizes = dict(zip((str(k) for k in ref["state.keys"]), (int(np.prod(s)) for s in shapes(ref, "state"))))
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    main = {k: n for k, n in sizes.items() if not k.startswith(("aux1.", "aux2."))}
    trainable = sum(n for k, n in main.items() if not k.endswith(buffers))
    assert trainable == load_count(BN_ARCH, "trainable_params") == 6_624_904
    assert trainable + sum(n for k, n in main.items() if k.endswith(buffers[:2])) == 6_639_464
    assert load_count(BN_ARCH, "params") == 6_639_464
    with_aux = sum(n for k, n in sizes.items() if not k.endswith(buffers))
    assert with_aux == 13_004_888  # torchvision's googlenet(aux_logits=True): what README's table gives


def load_count(path, what):
    return getattr(ik.load_arch(path), what)

"""The architecture language, the builder and `summary` (issue: declarative GoogLeNet)."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
from conftest import ROOT, cli

import inception_keras as ik
from inception_keras.errors import ConfigError
from inception_keras.lang.parse import load_arch

SEED = os.path.join(ROOT, "arch", "googlenet.yaml")
# The seed printed (1,64,24,24) (1,192,12,12) (1,480,6,6) (1,832,3,3) (1,1024,1,1) (1,10), channels first.
SEED_STAGES = {"b1": (24, 24, 64), "b2": (12, 12, 192), "b3": (6, 6, 480), "b4": (3, 3, 832), "b5": (1024,),
               "head": (10,)}


@pytest.fixture(scope="module")
def seed_model():
    return ik.build_model(SEED)


def stage_outputs(spec):
    out = {}
    for row in spec.rows:
        out[row.stage] = row.shape
    return out


def keras_macs(model) -> int:
    """Multiply-adds counted from the built Keras layers (independent of the spec's own count)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, cout = layer.output.shape
            k1, k2, cin, _ = layer.kernel.shape
            total += h * w * k1 * k2 * cin * cout
        elif isinstance(layer, keras.layers.Dense):
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


@pytest.mark.e2e
def test_seed_parameters_and_stage_shapes(seed_model):
    spec = load_arch(SEED)
    assert spec.params == 5_977_530
    assert seed_model.count_params() == 5_977_530
    assert stage_outputs(spec) == SEED_STAGES
    # the Keras model agrees stage by stage: the last layer of each stage
    last = {"b1": "b1.maxpool1", "b2": "b2.maxpool1", "b3": "b3.maxpool1", "b4": "b4.maxpool1",
            "b5": "b5.global_avgpool1", "head": "head.dense1"}
    for stage, name in last.items():
        assert tuple(seed_model.get_layer(name).output.shape[1:]) == SEED_STAGES[stage]


@pytest.mark.e2e
def test_seed_per_stage_parameters_match_keras(seed_model):
    spec = load_arch(SEED)
    blocks = {b.name: s.name for s in spec.stages for b in s.layers}
    keras_by_stage: dict = {}
    for layer in seed_model.layers:
        owner = layer.name.split(".")[0]
        stage = blocks.get(owner, owner)
        keras_by_stage[stage] = keras_by_stage.get(stage, 0) + layer.count_params()
    spec_by_stage: dict = {}
    for r in spec.rows:
        spec_by_stage[r.stage] = spec_by_stage.get(r.stage, 0) + r.params + r.nontrainable
    keras_by_stage.pop("input")
    assert spec_by_stage == keras_by_stage


@pytest.mark.e2e
def test_seed_multiply_adds(seed_model):
    spec = load_arch(SEED)
    assert spec.macs == keras_macs(seed_model)
    assert abs(spec.macs / 1e9 - 0.276) < 0.0005


@pytest.mark.e2e
def test_forward_pass_gives_batch_by_classes(seed_model):
    out = seed_model(np.random.rand(3, 96, 96, 1).astype("float32"), training=False)
    assert tuple(out.shape) == (3, 10)
    assert np.all(np.isfinite(np.asarray(out)))


@pytest.mark.e2e
def test_inception_blocks_concatenate_four_branches(seed_model):
    block = seed_model.get_layer("3a")
    inputs = [t._keras_history.operation.name for t in block.input]
    assert inputs == ["3a.1x1", "3a.3x3", "3a.5x5", "3a.pool_proj"]
    assert block.output.shape[-1] == 64 + 128 + 32 + 32
    assert seed_model.get_layer("3a.5x5").kernel.shape[:2] == (5, 5)  # a real 5x5 branch
    assert seed_model.get_layer("3a.3x3_reduce").activation.__name__ == "relu"


@pytest.mark.e2e
def test_changed_yaml_builds_the_network_it_describes(tmp_path):
    text = open(SEED).read()
    text = text.replace("input: [96, 96, 1]", "input: [64, 64, 3]").replace("classes: 10", "classes: 5")
    text = text.replace("{name: 3a, 1x1: 64,", "{name: 3a, 1x1: 40,")
    path = tmp_path / "changed.yaml"
    path.write_text(text)
    spec = load_arch(str(path))
    model = ik.build_model(spec)
    assert tuple(model.input.shape) == (None, 64, 64, 3)
    assert tuple(model.output.shape) == (None, 5)
    assert model.get_layer("3a").output.shape[-1] == 40 + 128 + 32 + 32
    assert model.get_layer("b1.conv1").kernel.shape == (7, 7, 3, 64)  # input channels derived
    assert model.count_params() == spec.params
    conv1 = 7 * 7 * 2 * 64  # two more input channels
    head = -5 * 1024 - 5  # five classes fewer
    own_3a = -24 * (192 + 1)  # 24 filters fewer in 3a.1x1 (192 input channels, bias)
    readers_3b = -24 * (128 + 128 + 32 + 64)  # 3b's four 1x1 convs read 24 channels fewer
    assert spec.params == 5_977_530 + conv1 + head + own_3a + readers_3b
    assert tuple(model(np.zeros((2, 64, 64, 3), "float32")).shape) == (2, 5)


@pytest.mark.e2e
def test_seed_stride2_layers_pad_symmetrically_like_d2l(seed_model):
    """b1's 7x7/2 conv pads 3 on every side (MXNet/PyTorch padding=3), not Keras's bottom-right "same"."""
    import keras
    import tensorflow as tf

    x = np.random.RandomState(1).rand(2, 96, 96, 1).astype("float32")
    conv = seed_model.get_layer("b1.conv1")
    ref = tf.nn.relu(tf.nn.conv2d(x, conv.kernel, 2, [[0, 0], [3, 3], [3, 3], [0, 0]]) + conv.bias).numpy()
    got = np.asarray(keras.Model(seed_model.input, conv.output)(x))
    np.testing.assert_allclose(got, ref, atol=1e-5)
    shifted = tf.nn.relu(tf.nn.conv2d(x, conv.kernel, 2, "SAME") + conv.bias).numpy()
    assert np.abs(shifted - ref).max() > 1e-2  # Keras "same" would differ


PADDED = """\
name: padded
input: [10, 10, 2]
classes: 3
defaults: {padding: 2}
stages:
  b1:
    - conv: {filters: 4, kernel: 3, activation: linear}
    - maxpool: {size: 3, stride: 2, padding: 1}
    - avgpool: {size: 3, stride: 2, padding: 1}
  head:
    - global_avgpool
    - dense: {}
"""


def _windows(a, pad, fill, k, s):
    """All k x k windows at stride s of `a` padded by `pad` on every side: batch, out_h, out_w, k, k, channels."""
    a = np.pad(a, [(0, 0), (pad, pad), (pad, pad), (0, 0)], constant_values=fill)
    n = (a.shape[1] - k) // s + 1
    return np.stack([np.stack([a[:, i * s:i * s + k, j * s:j * s + k] for j in range(n)], 1) for i in range(n)], 1)


@pytest.mark.e2e
def test_integer_padding_pads_every_side(tmp_path):
    """padding: N is PyTorch's padding=N: zeros for conv and avg pools (counted), -inf for max pools."""
    import keras

    path = tmp_path / "padded.yaml"
    path.write_text(PADDED)
    spec = load_arch(str(path))
    # 10 + 2*2 - 3 + 1 = 12 (no "same" gives a larger map); (12 + 2 - 3) // 2 + 1 = 6; (6 + 2 - 3) // 2 + 1 = 3
    assert [r.shape for r in spec.rows[:3]] == [(12, 12, 4), (6, 6, 4), (3, 3, 4)]
    keras.utils.set_random_seed(1)  # weights with all-negative border windows (unseeded, about half of runs had none)
    model = ik.build_model(spec)
    # a negative bias makes the conv's outputs negative, so -inf and zero padding give different max pools
    model.get_layer("b1.conv1").bias.assign(np.full(4, -10.0, "float32"))
    x = np.random.RandomState(0).randn(2, 10, 10, 2).astype("float32")
    outs = keras.Model(model.input, [model.get_layer(n).output for n in ("b1.conv1", "b1.maxpool1", "b1.avgpool1")])
    conv, mx, avg = (np.asarray(t) for t in outs(x))
    kernel, bias = (np.asarray(w) for w in model.get_layer("b1.conv1").weights)
    np.testing.assert_allclose(conv, np.einsum("bhwijc,ijcf->bhwf", _windows(x, 2, 0.0, 3, 1), kernel) + bias,
                               atol=1e-4)
    assert conv.max() < 0  # a linear conv with a negative bias
    np.testing.assert_allclose(mx, _windows(conv, 1, -np.inf, 3, 2).max(axis=(3, 4)), atol=1e-6)
    assert not np.allclose(mx, _windows(conv, 1, 0.0, 3, 2).max(axis=(3, 4)))
    np.testing.assert_allclose(avg, _windows(mx, 1, 0.0, 3, 2).mean(axis=(3, 4)), atol=1e-5)
    # run directories keep model.keras: saved and loaded, the padding layers come back
    model.save(tmp_path / "padded.keras")
    again = keras.saving.load_model(tmp_path / "padded.keras")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-6)


@pytest.mark.e2e
def test_summary_cli_prints_stages_and_totals():
    r = cli("summary", SEED)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    table = {ln.split()[0]: ln.split()[1] for ln in lines[2:8]}
    assert table == {"b1": "24x24x64", "b2": "12x12x192", "b3": "6x6x480", "b4": "3x3x832", "b5": "1024",
                     "head": "10"}
    assert "total: 5,977,530 parameters, 0.276 G multiply-adds per image" in r.stdout


@pytest.mark.e2e
def test_summary_blocks_and_input_shape_override():
    r = cli("summary", SEED, "--blocks", "--input-shape", "224,224,3")
    assert r.returncode == 0, r.stderr
    rows = {ln.split()[0]: ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("  ")}
    assert rows["3a"] == "28x28x256" and rows["4e"] == "14x14x832" and rows["5b"] == "7x7x1024"
    assert "input 224x224x3" in r.stdout


# ----------------------------------------------------------------------------- errors

BASE = """\
name: t
input: [32, 32, 1]
classes: 10
stages:
  b1:
    - conv: {filters: 8, kernel: 3, stride: 2}
    - inception: {name: 3a, 1x1: 4, 3x3_reduce: 4, 3x3: 4, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}
  head:
    - global_avgpool
    - dense: {}
"""


def errors_of(text: str, tmp_path) -> list[str]:
    path = tmp_path / "net.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_arch(str(path))
    return [str(p).replace(str(path), "net.yaml") for p in info.value.problems]


MALFORMED = [
    ("unknown kind", BASE.replace("- conv:", "- cnov:"),
     ["net.yaml:6:7: stages.b1[0].cnov: unknown layer kind 'cnov'; did you mean 'conv'? (kinds: conv, sepconv, "
      "maxpool, avgpool, adaptive_avgpool, global_avgpool, flatten, dropout, activation, dense, batch_norm, lrn, "
      "inception, branch, layer_norm, layer_scale, drop_path)"]),
    ("unknown key", BASE.replace("kernel: 3,", "kernal: 3,"),
     ["net.yaml:6:26: stages.b1[0].conv.kernal: unknown key 'kernal' in conv layer; did you mean 'kernel'? (known: "
      "filters, kernel, stride, padding, groups, activation, use_bias, batch_norm, initializer, bn_epsilon, "
      "bn_momentum, bn_center, bn_scale, name, trainable)",
      "net.yaml:6:13: stages.b1[0].conv: conv layer is missing required key 'kernel' (kernel size: N "
      "(square) or [height, width] (`[1, 7]`))"]),
    ("number as string", BASE.replace("3x3_reduce: 4", '3x3_reduce: "4"'),
     ["net.yaml:7:49: stages.b1[1].inception.3x3_reduce: expected an integer > 0, got '4' (a string) "
      "(remove the quotes)"]),
    ("fractional size", BASE.replace("filters: 8", "filters: 8.5"),
     ["net.yaml:6:23: stages.b1[0].conv.filters: expected an integer > 0, got 8.5 (sizes are whole numbers)"]),
    ("zero size", BASE.replace("pool_proj: 4", "pool_proj: 0"),
     ["net.yaml:7:94: stages.b1[1].inception.pool_proj: expected an integer > 0, got 0"]),
    ("negative size", BASE.replace("stride: 2", "stride: -2"),
     ["net.yaml:6:45: stages.b1[0].conv.stride: expected an integer > 0, got -2"]),
    ("missing field", BASE.replace(", pool_proj: 4", ""),
     ["net.yaml:7:18: stages.b1[1].inception: inception layer is missing required key 'pool_proj' (branch 4: 1x1 "
      "conv after the pooling (pool proj))"]),
    ("missing top key", BASE.replace("name: t\n", ""),
     ["net.yaml:1:1: the architecture is missing required key 'name' (name of the network (used in run directory "
      "names))"]),
    ("no classes: a backbone, but dense takes classes", BASE.replace("classes: 10\n", ""),
     ["net.yaml:9:14: stages.head[1].dense: dense without `units` has `classes` units, but the network gives no "
      "`classes` (a backbone): give units, or classes"]),
    ("duplicate block", BASE.replace("    - global_avgpool\n", "    - inception: {name: 3a, 1x1: 4, 3x3_reduce: 4, "
                                     "3x3: 4, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}\n    - global_avgpool\n"),
     ["net.yaml:9:25: stages.head[0].inception.name: duplicate block name '3a' (also at stages.b1[1].inception)"]),
    ("empty stage", BASE.replace("  head:\n    - global_avgpool\n    - dense: {}\n", "  head: []\n"),
     ["net.yaml:8:9: stages.head: empty: a stage needs at least one layer"]),
    ("vanishing feature map", BASE.replace("kernel: 3, stride: 2}", "kernel: 3, stride: 2}\n    - avgpool: {size: 5, "
                                           "stride: 5, padding: valid}\n    - maxpool: {size: 5, padding: valid}"),
     ["net.yaml:8:16: stages.b1[2].maxpool: the feature map vanishes: maxpool with window 5 (valid padding) does not "
      "fit the 3x3 feature map after b1.avgpool1 (3x3x8) at input 32x32x1; use padding: same, a smaller window, "
      "adapt: true or a larger input"]),
    ("negative padding", BASE.replace("stride: 2}", "stride: 2, padding: -1}"),
     ["net.yaml:6:57: stages.b1[0].conv.padding: expected same, valid, an integer >= 0 or [height, width] of "
      "integers >= 0, got -1"]),
    ("padding as string", BASE.replace("stride: 2}", "stride: 2, padding: '1'}"),
     ["net.yaml:6:57: stages.b1[0].conv.padding: unknown padding '1' (remove the quotes) (one of: same, valid, "
      "or an integer >= 0)"]),
    ("misspelt padding", BASE.replace("stride: 2}", "stride: 2, padding: smae}"),
     ["net.yaml:6:57: stages.b1[0].conv.padding: unknown padding 'smae'; did you mean 'same'? (one of: same, "
      "valid, or an integer >= 0)"]),
    ("dense on a feature map", BASE.replace("    - global_avgpool\n", ""),
     ["net.yaml:9:14: stages.head[0].dense: dense needs a flat input, but gets a 16x16x16 feature map after 3a "
      "(16x16x16); put global_avgpool or flatten before it"]),
    ("wrong type of input", BASE.replace("[32, 32, 1]", "[32, 32]"),
     ["net.yaml:2:8: input: expected [height, width, channels] (three integers > 0), got [32, 32]"]),
    ("unknown choice", BASE.replace("stride: 2}", "stride: 2, activation: rleu}"),
     ["net.yaml:6:60: stages.b1[0].conv.activation: unknown value 'rleu'; did you mean 'relu'? (one of: relu, "
      "relu6, elu, selu, gelu, silu, swish, tanh, sigmoid, softplus, leaky_relu, linear)"]),
    ("string for a number", BASE.replace("    - global_avgpool\n", "    - global_avgpool\n    - lrn: {alpha: "
                                         "'1e-4'}\n"),
     ["net.yaml:10:20: stages.head[1].lrn.alpha: expected a number > 0, got '1e-4' (a string) (remove the "
      "quotes)"]),
    ("layer with two kinds", BASE.replace("    - global_avgpool\n", "    - global_avgpool: {}\n      dense: {}\n"),
     ["net.yaml:9:7: stages.head[0]: a layer is one kind with its fields (`- conv: {filters: 64, kernel: 1}`), got "
      "keys: global_avgpool, dense (is the indentation off?)"]),
    ("duplicate yaml key", BASE.replace("classes: 10\n", "classes: 10\nclasses: 12\n"),
     ["net.yaml:4:1: classes: duplicate key 'classes' (first on line 3)"]),
    ("invalid syntax", BASE.replace("{filters: 8, kernel: 3, stride: 2}", "{filters: 8, kernel: 3"),
     ["net.yaml:7:16: invalid YAML: expected ',' or '}', but got ':' (while parsing a flow "
      "mapping started on line 6)"]),
    ("empty file", "", ["net.yaml: architecture file is empty"]),
    ("not a mapping", "- conv\n", ["net.yaml:1:1: an architecture file is a mapping with keys name, input, classes, "
                                   "stages; got a list"]),
]


@pytest.mark.parametrize("text,expected", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_yaml_exact_messages(text, expected, tmp_path):
    assert errors_of(text, tmp_path) == expected


def test_all_errors_of_a_file_are_reported_at_once(tmp_path):
    text = BASE.replace("filters: 8", "filters: 0").replace("pool_proj: 4", "pool_proj: x").replace(
        "classes: 10", "classes: ten")
    messages = errors_of(text, tmp_path)
    assert [m.split(": ")[1] for m in messages] == ["classes", "stages.b1[0].conv.filters",
                                                    "stages.b1[1].inception.pool_proj"]


def test_scientific_notation_is_a_number(tmp_path):
    path = tmp_path / "lrn.yaml"
    path.write_text(BASE.replace("    - inception", "    - lrn: {size: 5, alpha: 1e-4}\n    - inception"))
    spec = load_arch(str(path))
    lrn = spec.stages[0].layers[1]
    assert lrn.alpha == 1e-4 and lrn.depth_radius == 2 and lrn.tf_alpha == pytest.approx(2e-5)


def test_missing_file_and_directory():
    with pytest.raises(ConfigError, match=r"^/nonexistent\.yaml: architecture file not found$"):
        load_arch("/nonexistent.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_arch(ROOT)


def test_set_override_errors_name_the_override(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(BASE)
    with pytest.raises(ConfigError) as info:
        load_arch(str(path), sets=[("stages.b1[0].conv.filters", "eight")])
    assert str(info.value) == (f"{path}: stages.b1[0].conv.filters: expected an integer > 0, got 'eight' (a string) "
                               f"(from --set stages.b1[0].conv.filters=eight)")


@pytest.mark.e2e
def test_cli_exit_codes(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("kernel: 3,", "kernel: three,"))
    r = cli("summary", bad)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert re.search(r"bad\.yaml:6:34: stages\.b1\[0\]\.conv\.kernel: expected an integer > 0, got 'three'", r.stderr)
    assert cli("summary", tmp_path / "missing.yaml").returncode == 2
    assert cli("summary").returncode == 2  # argparse: missing argument
    assert cli("summary", SEED, "--input-shape", "96,96").returncode == 2
    good = cli("summary", SEED, "--classes", "7")
    assert good.returncode == 0 and "total: 5,974,455 parameters" in good.stdout


def test_python_api_load_and_build():
    spec = ik.load_arch(SEED)
    assert isinstance(spec, ik.ArchSpec)
    assert [s.name for s in spec.stages] == ["b1", "b2", "b3", "b4", "b5", "head"]
    assert [b.name for b in spec.stages[3].layers[:5]] == ["4a", "4b", "4c", "4d", "4e"]
    assert spec.stages[2].layers[0].n3x3_reduce == 96


# ----------------------------------------------------------------------------- adaptive average pooling

ADAPTIVE = """\
name: adaptive
input: [SIZE, SIZE, 3]
classes: 2
stages:
  s:
    - adaptive_avgpool: {output: OUT}
    - flatten
    - dense: {}
"""


def adaptive_reference(x: np.ndarray, out: int) -> np.ndarray:
    """PyTorch's adaptive windows written out: cell i averages rows floor(i*H/out) .. ceil((i+1)*H/out) - 1."""
    n, h, w, c = x.shape
    res = np.zeros((n, out, out, c))
    for i in range(out):
        r0, r1 = int(np.floor(i * h / out)), int(np.ceil((i + 1) * h / out))
        for j in range(out):
            c0, c1 = int(np.floor(j * w / out)), int(np.ceil((j + 1) * w / out))
            res[:, i, j] = x[:, r0:r1, c0:c1].mean(axis=(1, 2))
    return res


@pytest.mark.parametrize("size,out", [(14, 4), (7, 4), (9, 3), (5, 1), (3, 4), (8, 4)])
@pytest.mark.e2e
def test_adaptive_avgpool_matches_pytorchs_windows(size, out, tmp_path):
    import keras

    spec = load_arch("a.yaml", text=ADAPTIVE.replace("SIZE", str(size)).replace("OUT", str(out)))
    assert spec.rows[0].shape == (out, out, 3) and spec.rows[1].shape == (out * out * 3,)
    model = ik.build_model(spec)
    pooled = keras.Model(model.input, model.get_layer("s.adaptive_avgpool1").output)
    x = np.random.default_rng(size).normal(size=(2, size, size, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(pooled(x)), adaptive_reference(x, out), atol=1e-5)
    if size % out and size > out:  # windows of unequal size: no fixed-window pool gives this
        assert not np.allclose(np.asarray(pooled(x)), adaptive_reference(x[:, :size - size % out,
                                                                          :size - size % out], out), atol=1e-3)
    model.save(tmp_path / "a.keras")
    again = keras.saving.load_model(tmp_path / "a.keras")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-6)


@pytest.mark.e2e
def test_every_layer_kind_has_a_keras_builder():
    from inception_keras.lang.kinds import LAYER_KINDS
    from inception_keras.nn import blocks

    assert set(LAYER_KINDS.values()) <= set(blocks.BUILDERS)


# ----------------------------------------------------------------------------- ceil-mode pooling


def torch_pool_reference(x: np.ndarray, k: int, s: int, pad: int, ceil: bool, kind: str) -> np.ndarray:
    """PyTorch's CPU pooling kernels written out (max_pool2d / avg_pool2d with count_include_pad=True)."""
    n = x.shape[1]
    out = (n + 2 * pad - k + ((s - 1) if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + pad:
        out -= 1
    res = np.zeros((x.shape[0], out, out, x.shape[3]))
    for i in range(out):
        h0 = i * s - pad
        h1 = min(h0 + k, n + pad)
        for j in range(out):
            w0 = j * s - pad
            w1 = min(w0 + k, n + pad)
            size = (h1 - h0) * (w1 - w0)
            window = x[:, max(h0, 0):min(h1, n), max(w0, 0):min(w1, n)]
            res[:, i, j] = window.max(axis=(1, 2)) if kind == "max" else window.sum(axis=(1, 2)) / size
    return res


CEIL = """\
name: ceil
input: [SIZE, SIZE, 2]
classes: 2
stages:
  s:
    - KIND: {size: K, stride: S, padding: P, ceil_mode: true}
    - global_avgpool
    - dense: {}
"""


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("k,s,pad", [(3, 2, 0), (2, 2, 0), (3, 2, 1), (5, 3, 0), (3, 1, 1), (5, 3, 2)])
@pytest.mark.e2e
def test_ceil_mode_pools_match_pytorchs_kernels(kind, k, s, pad):
    import keras

    for size in (7, 8, 13, 14, 19):
        text = CEIL.replace("SIZE", str(size)).replace("KIND", f"{kind}pool").replace("K,", f"{k},")
        spec = load_arch("c.yaml", text=text.replace("S,", f"{s},").replace("P,", f"{pad},"))
        model = ik.build_model(spec)
        pooled = keras.Model(model.input, model.get_layer(f"s.{kind}pool1").output)
        x = np.random.default_rng(size).normal(size=(2, size, size, 2)).astype("float32")
        expected = torch_pool_reference(x, k, s, pad, True, kind)
        assert spec.rows[0].shape == expected.shape[1:], (size, k, s, pad)
        np.testing.assert_allclose(np.asarray(pooled(x)), expected, atol=1e-5, err_msg=f"{size} {k} {s} {pad}")


def test_ceil_mode_differs_from_floor_and_same_where_pytorch_does():
    # 299 px: torchvision's second 3x3/2 max pool sees 75x75 -> 37x37 (ceil); Keras "same" gives 38x38
    from inception_keras.lang.geometry import out_size, pool_out

    assert pool_out(75, 3, 2, 0, True) == 37 and out_size(75, 3, 2, "same") == 38 and out_size(75, 3, 2, 0) == 37
    assert pool_out(14, 3, 2, 0, True) == 7 and out_size(14, 3, 2, 0) == 6
    # the last window must start inside the input or its left padding: 2/2 with padding 1 maps 5 to 3 (rounding
    # up alone gives 4, a window starting in the right padding); 3/3 with padding 1 maps 3 to 2
    assert pool_out(5, 2, 2, 1, True) == 3 and -(-(5 + 2 - 2) // 2) + 1 == 4 and pool_out(3, 3, 3, 1, True) == 2


def test_ceil_mode_with_same_padding_is_an_error():
    with pytest.raises(ConfigError, match=r"c\.yaml:6:\d+: stages\.s\[0\]\.maxpool\.ceil_mode: ceil_mode rounds "
                                          r"explicit padding up; with padding: same"):
        load_arch("c.yaml", text=CEIL.replace("SIZE", "8").replace("KIND", "maxpool").replace("K,", "3,").replace(
            "S,", "2,").replace("P,", "same,"))


ACTIVATION_ARCH = """\
name: act
input: [8, 8, 1]
classes: 3
stages:
  s1:
    - conv: {filters: 4, kernel: 3, activation: linear, batch_norm: true}
    - activation: {function: FUNCTION}
    - global_avgpool
  head:
    - dense: {}
"""


@pytest.mark.e2e
def test_a_standalone_activation_layer_is_its_own_kind(tmp_path):
    """`activation` (one class in lang/kinds.py, one builder in nn/blocks.py): no parameters, the shape kept, the
    function applied by Keras' layer of that name; an unknown function is a file:line error."""
    path = tmp_path / "act.yaml"
    path.write_text(ACTIVATION_ARCH.replace("FUNCTION", "relu6"))
    spec = load_arch(str(path))
    # conv (+bias), BN gamma/beta, dense: the activation adds nothing
    assert spec.trainable_params == 4 * 9 + 4 + 2 * 4 + 4 * 3 + 3
    model = ik.build_model(str(path))
    assert model.count_params() == spec.params
    layer = model.get_layer("s1.activation1")
    x = np.linspace(-20, 20, 2 * 8 * 8 * 4, dtype="float32").reshape(2, 8, 8, 4)
    np.testing.assert_array_equal(np.asarray(layer(x)), np.clip(x, 0, 6))
    path.write_text(ACTIVATION_ARCH.replace("FUNCTION", "relu7"))
    with pytest.raises(ConfigError, match=r"act.yaml:7:\d+: stages.s1\[1\].activation.function: unknown value"):
        load_arch(str(path))

"""Issue 33, item 4: every model the trainer writes exports. A run trained in mixed_bfloat16 (what
`precision: auto` picks on CPUs with AVX512-BF16 or AMX) is exported in float32, rebuilt with the same weights,
to TFLite and ONNX (before: a Flex-op traceback that left the .tflite behind, and a refusal for ONNX); each
artifact, run by its own runtime, gives the logits of the float32 network built here independently from the
run's architecture with the run's weights."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_ARCH, TINY_RECIPE, cli, write_bars

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")]

# the tiny network with the layers a rebuild must carry: the input normalization, BatchNorm, LRN
ARCH = TINY_ARCH.replace("classes: 10\n", "classes: 10\nnormalize: {mean: [0.5], std: [0.25]}\n"
                         "defaults: {batch_norm: true}\n").replace(
    "    - maxpool: {size: 3, stride: 2}\n", "    - maxpool: {size: 3, stride: 2}\n    - lrn: {size: 3}\n")


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mixed")
    data = write_bars(str(tmp / "data"), 128, 64)
    (tmp / "a.yaml").write_text(ARCH)
    (tmp / "r.yaml").write_text(TINY_RECIPE.replace("DATA", data).replace("epochs: 3", "epochs: 1"))
    r = cli("train", "--arch", tmp / "a.yaml", "--recipe", tmp / "r.yaml", "--run-dir", tmp / "run", "--set",
            "precision=mixed_bfloat16")
    assert r.returncode == 0 and "precision mixed_bfloat16" in r.stdout, r.stdout + r.stderr
    return tmp


def float32_reference(tmp):
    """The run's network built from its architecture file in float32, with the weights of its model.keras."""
    import keras

    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_model
    from inception_keras.runs.loader import load_model

    trained = load_model(str(tmp / "run" / "model.keras"))
    assert {layer.dtype_policy.name for layer in trained.layers} >= {"mixed_bfloat16"}
    keras.mixed_precision.set_global_policy("float32")
    ours = build_model(load_arch(str(tmp / "a.yaml")))
    ours.set_weights(trained.get_weights())
    return trained, ours


@pytest.mark.parametrize("fmt, out", [("tflite", "m.tflite"), ("onnx", "m.onnx"), ("saved_model", "sm")])
def test_a_mixed_bfloat16_run_exports_in_float32(mixed_run, tmp_path, fmt, out):
    from inception_keras.serve.export import run_exported

    r = cli("export", mixed_run / "run", "--format", fmt, "--out", tmp_path / out)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert "trained in mixed_bfloat16: exported in float32" in r.stdout
    assert "logits differ from Keras' (the float32 rebuild's) by at most" in r.stdout
    trained, ours = float32_reference(mixed_run)
    x = np.random.default_rng(5).random((3, 16, 16, 1), dtype=np.float32)
    want = np.asarray(ours(x, training=False), np.float64)
    got = np.asarray(run_exported(fmt, str(tmp_path / out), x), np.float64)
    assert np.abs(got - want).max() <= 1e-5 * max(np.abs(want).max(), 1.0)
    # the bfloat16 model itself agrees only to bfloat16's precision (8 bits of mantissa): the artifact is float32's
    mixed = np.asarray(trained(x, training=False), np.float64)
    assert np.abs(mixed - want).max() <= 0.05 * max(np.abs(want).max(), 1.0)


@pytest.mark.parametrize("arch", ["inception_v3.yaml", "googlenet_bn_imagenet.yaml"])
def test_the_float32_rebuild_of_a_full_network_is_exact(arch):
    """Every layer of the rebuild computes in float32 (the convolutions a block builds inside itself too), its
    weights are the mixed model's, and its logits equal those of the network built in float32 from the file."""
    import os

    import keras
    from conftest import ROOT

    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_model
    from inception_keras.serve.export import _all_layers, float32_model

    spec = load_arch(os.path.join(ROOT, "arch", arch), sets=[("input", [96, 96, 3])])
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = build_model(spec)
        rebuilt, was = float32_model(mixed)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert was == "mixed_bfloat16" and {layer.dtype_policy.name for layer in _all_layers(rebuilt)} == {"float32"}
    reference = build_model(spec)
    reference.set_weights(mixed.get_weights())
    x = np.random.default_rng(0).random((2, 96, 96, 3), dtype=np.float32)
    assert np.array_equal(np.asarray(rebuilt(x)), np.asarray(reference(x)))
    assert not np.array_equal(np.asarray(mixed(x), np.float32), np.asarray(reference(x)))  # bfloat16 differs

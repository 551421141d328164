"""`inception-keras export MODEL_OR_RUN --format saved_model|tflite|onnx --out PATH` (issue 14, item 6): each
artifact, loaded back here by its own runtime, reproduces the Keras logits of a tiny model that holds every
custom layer of blocks.py."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import cli

import inception_keras as ik
from inception_keras.cli.app import main
from inception_keras.lang.parse import load_arch

# every custom layer: InputNormalization, Padding2D (zero and -inf), LocalResponseNormalization, Rescale2D (a
# ceil-mode average pool's partial windows), AdaptiveAveragePooling2D (overlapping windows), and a Permute
# (channels-first flatten); BatchNormalization with non-trivial statistics
ALL_LAYERS = """\
name: tiny-all
input: [20, 20, 3]
classes: 5
normalize: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
defaults: {batch_norm: true}
stages:
  s1:
    - conv: {filters: 8, kernel: 3, stride: 2, padding: 1}
    - maxpool: {size: 3, stride: 2, padding: 1}
    - lrn: {size: 5, alpha: 1e-4, beta: 0.75}
    - avgpool: {size: 2, stride: 2, padding: 0, ceil_mode: true}
  s2:
    - inception: {name: 2a, 1x1: 4, 3x3_reduce: 4, 3x3: 4, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}
    - adaptive_avgpool: {output: 2}
    - flatten: {order: channels_first}
  head:
    - dense: {}
"""
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")]
CUSTOM = {"InputNormalization", "Padding2D", "LocalResponseNormalization", "Rescale2D", "AdaptiveAveragePooling2D",
          "Permute"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    model = ik.build_model(load_arch("tiny_all.yaml", text=ALL_LAYERS))
    assert CUSTOM <= {type(layer).__name__ for layer in model.layers}
    rng = np.random.default_rng(0)
    for v in model.weights:
        shape = tuple(v.shape)
        v.assign(rng.uniform(0.5, 1.5, shape) if "moving_variance" in v.path else rng.normal(0, 0.5, shape))
    path = str(tmp_path_factory.mktemp("export") / "tiny.keras")
    model.save(path)
    return model, path


def runtime_logits(fmt, path, x):
    """The artifact run by its own runtime, independently of inception_keras.export."""
    import tensorflow as tf

    if fmt == "saved_model":
        return tf.saved_model.load(path).signatures["serving_default"](tf.constant(x))
    if fmt == "tflite":
        interpreter = tf.lite.Interpreter(model_path=path)
        inp = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(inp["index"], list(x.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("fmt, name", [("saved_model", "sm"), ("tflite", "m.tflite"), ("onnx", "m.onnx")])
def test_export_round_trip_reproduces_the_keras_logits(fmt, name, tiny_model, tmp_path, capsys):
    if fmt == "onnx":
        pytest.importorskip("tf2onnx")
    model, path = tiny_model
    out = str(tmp_path / name)
    assert main(["export", path, "--format", fmt, "--out", out]) == 0
    report = capsys.readouterr().out
    print(report)
    assert report.startswith(f"wrote {out} ({fmt}, ")
    assert "float32 [N, 20, 20, 3] images in [0, 1] -> 5 logits" in report
    assert "logits differ from Keras' by at most" in report
    if fmt == "tflite":  # the interpreter that ran is named: LiteRT's where ai-edge-litert is installed
        from inception_keras.serve.export import LITERT, TF_LITE

        litert = importlib.util.find_spec("ai_edge_litert") is not None
        assert f"checked with {LITERT if litert else TF_LITE}: " in report
    x = np.random.default_rng(1).random((3, 20, 20, 3), dtype=np.float32)
    ours = np.asarray(model(x, training=False), np.float64)
    got = runtime_logits(fmt, out, x)
    if isinstance(got, dict):
        (got,) = got.values()
    got = np.asarray(got, np.float64)
    assert got.shape == ours.shape
    diff = float(np.max(np.abs(got - ours)))
    print(f"{fmt}: max abs difference of logits {diff:.3g} (logits up to {np.max(np.abs(ours)):.3g})")
    assert diff <= 1e-5 * np.max(np.abs(ours))
    # the exported model includes the input normalisation: without it the logits are far off
    assert np.max(np.abs(np.asarray(model(x * 0.229 + 0.485, training=False)) - got)) > 1e-3


def test_export_errors_exit_2_naming_the_path(tiny_model, tmp_path, capsys):
    _, path = tiny_model
    r = cli("export", path, "--format", "tflite", "--out", tmp_path / "m.onnx")  # a real process
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == ""
    assert r.stderr == (f"error: --out {tmp_path / 'm.onnx'}: a tflite export is a TFLite file; name a file ending "
                        "in .tflite\n")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    assert main(["export", path, "--format", "saved_model", "--out", str(tmp_path / "full")]) == 2
    assert "full: is a folder that is not a SavedModel; never replaced, even with --force" in capsys.readouterr().err
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    missing = str(tmp_path / "none.keras")
    assert main(["export", missing, "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    assert capsys.readouterr().err == f"error: {missing}: no such run directory or model file\n"
    with pytest.raises(SystemExit) as e:
        main(["export", path, "--format", "coreml", "--out", str(tmp_path / "m")])
    assert e.value.code == 2 and "invalid choice: 'coreml'" in capsys.readouterr().err


def test_onnx_without_the_onnx_extra_exits_2(tiny_model, tmp_path):
    """docs/weights.md: without tf2onnx (the onnx extra) the command says so, exit 2, no traceback, nothing
    written. A module named tf2onnx that fails to import, first on the path, stands in for its absence."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "tf2onnx.py").write_text("raise ImportError('No module named tf2onnx (hidden by the test)')\n")
    out = tmp_path / "m.onnx"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=f"{hidden}{os.pathsep}{ROOT}")
    r = subprocess.run([sys.executable, "-m", "inception_keras", "export", tiny_model[1], "--format", "onnx", "--out",
                        str(out)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip() == ("error: the onnx export needs tf2onnx (pip install 'inception-keras[onnx]': tf2onnx, "
                                "onnx and onnxruntime), which Keras' ONNX export uses on the TensorFlow backend")
    assert not out.exists()

"""`inception-keras export`: the inference model for serving, checked by loading it back.

Formats, all through Keras 3's own `Model.export` on the TensorFlow backend:

  saved_model  a TensorFlow SavedModel directory (`format="tf_saved_model"`); its `serve` endpoint
               (also the `serving_default` signature) takes float32 [N, H, W, C] and returns the logits.
               Loaded back with `tf.saved_model.load`.
  tflite       a TFLite (LiteRT) flatbuffer (`format="litert"`, TensorFlow's TFLite converter with its
               builtin ops only). Loaded back with LiteRT's interpreter (`ai_edge_litert`, the `litert` extra)
               where installed, else TensorFlow's deprecated `tf.lite.Interpreter`; the report says which.
  onnx         an ONNX model (`format="onnx"`, which converts the traced function with tf2onnx: install
               `inception-keras[onnx]`, i.e. tf2onnx, onnx and onnxruntime). Loaded back with onnxruntime.

Every artifact takes what the Keras model takes: [0, 1] images, NHWC, float32 (an architecture's
`normalize` is the model's first layer and is exported with it). The custom layers (Padding2D,
Rescale2D, AdaptiveAveragePooling2D, LocalResponseNormalization, InputNormalization) are plain TensorFlow
ops once traced: pad, multiply, average pools and a gather (Keras' adaptive pooling),
local_response_normalization, subtract and divide.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import warnings

import numpy as np

from inception_keras import writing
from inception_keras.errors import ConfigError
from inception_keras.runs.loader import load_inference

FORMATS = {"saved_model": ("tf_saved_model", ""), "tflite": ("litert", ".tflite"), "onnx": ("onnx", ".onnx")}
RUNTIMES = {"saved_model": "TensorFlow's SavedModel loader", "tflite": "the TFLite interpreter",
            "onnx": "onnxruntime"}
LITERT = "LiteRT's interpreter (ai_edge_litert)"
TF_LITE = ("TensorFlow's TFLite interpreter (tf.lite.Interpreter, deprecated; pip install 'inception-keras[litert]' "
           "for LiteRT's)")
CHECK_IMAGES = 2


def export_model(model, fmt: str, out: str) -> None:
    """Write `model` (one input, one output) as `fmt` to `out`. Raises ConfigError for what a user can fix."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format '{fmt}' (one of: {', '.join(FORMATS)})")
    keras_format, kind = FORMATS[fmt][0], writing.EXPORTS[fmt]
    writing.check(out, kind)  # the one rule for outputs, before the work
    if fmt == "onnx":
        _need_onnx()
        mixed = sorted({layer.dtype_policy.name for layer in model.layers if layer.dtype_policy.compute_dtype
                        != "float32"})
        if mixed:
            raise ConfigError(f"the model computes in {', '.join(mixed)} (trained with mixed precision): Keras' "
                              "ONNX export needs a float32 model; export saved_model or tflite, or rebuild the "
                              "model in float32 and load its weights")
        # Keras' ONNX export refuses a model that was never called (one just loaded from .keras)
        model(np.zeros((1, *(int(d) for d in model.input_shape[1:])), np.float32), training=False)
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # Keras' tf2onnx patch touches np.object
            with writing.output(out, kind) as tmp:  # a failed export leaves nothing (its temporary is removed)
                model.export(tmp, format=keras_format, verbose=False)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - tf2onnx, the TFLite converter and TensorFlow raise many kinds
        raise ConfigError(f"{out}: the {fmt} export failed: {type(e).__name__}: {str(e).strip().splitlines()[0]}"
                          ) from None


def _need_onnx() -> None:
    missing = []
    for name in ("tf2onnx", "onnx"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ConfigError(f"the onnx export needs {' and '.join(missing)} (pip install 'inception-keras[onnx]': "
                          "tf2onnx, onnx and onnxruntime), which Keras' ONNX export uses on the TensorFlow backend")


def run_exported(fmt: str, path: str, x: np.ndarray) -> np.ndarray:
    """The exported artifact's logits for x (float32 NHWC), computed by the format's own runtime."""
    x = np.asarray(x, np.float32)
    if fmt == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        return np.asarray(loaded.serve(tf.constant(x)))
    if fmt == "tflite":
        Interpreter, _ = tflite_interpreter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # tf.lite.Interpreter's deprecation notice
            interpreter = Interpreter(model_path=path)
        inp = interpreter.get_input_details()[0]
        if tuple(inp["shape"]) != x.shape:
            interpreter.resize_tensor_input(inp["index"], list(x.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return np.asarray(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError("checking an onnx export needs onnxruntime (pip install 'inception-keras[onnx]'), "
                              "or pass --no-check") from None
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])
    raise ConfigError(f"unknown export format '{fmt}'")


def tflite_interpreter():
    """(the Interpreter class, its name for the report): LiteRT's own where ai-edge-litert is installed (it runs
    beside TensorFlow 2.21 in one process), else TensorFlow's, deprecated for LiteRT but still in TF 2.21."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, LITERT
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, TF_LITE


def compare_exported(model, fmt: str, path: str, n: int = CHECK_IMAGES, seed: int = 0) -> dict:
    """Keras' logits against the artifact's on n random [0, 1] images: max abs and relative difference."""
    shape = tuple(int(d) for d in model.input_shape[1:])
    x = np.random.default_rng(seed).random((n, *shape), dtype=np.float32)
    ours = np.asarray(model(x, training=False), np.float64)
    theirs = np.asarray(run_exported(fmt, path, x), np.float64)
    if theirs.shape != ours.shape:
        raise ConfigError(f"{path}: the exported model returns shape {theirs.shape}, Keras {ours.shape}")
    diff = float(np.max(np.abs(theirs - ours)))
    return {"max_abs": diff, "relative": diff / max(float(np.max(np.abs(ours))), 1e-30), "images": n,
            "runtime": tflite_interpreter()[1] if fmt == "tflite" else RUNTIMES[fmt]}


def float32_model(model):
    """(the model, None) when every layer computes in float32; else (the same network rebuilt with every layer in
    float32 and the same weights, the policies it had): a model trained in mixed_bfloat16 or mixed_float16 keeps
    its variables in float32, so the copy is exact, and it converts to TFLite's builtin ops and to ONNX."""
    mixed = sorted({layer.dtype_policy.name for layer in _all_layers(model)
                    if layer.dtype_policy.compute_dtype != "float32"})
    if not mixed:
        return model, None
    import keras

    def rebuild(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    was = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_global_policy("float32")  # the layers a block builds inside itself follow it
    try:
        f32 = keras.models.clone_model(model, clone_function=rebuild)
    finally:
        keras.mixed_precision.set_global_policy(was)
    left = sorted({layer.name for layer in _all_layers(f32) if layer.dtype_policy.compute_dtype != "float32"})
    if left:
        raise ConfigError(f"cannot rebuild the model in float32: {', '.join(left[:5])} still compute in "
                          f"{mixed[0]}")
    f32.set_weights(model.get_weights())
    return f32, ", ".join(mixed)


def _all_layers(model) -> list:
    """Every layer of `model`, those inside other layers (a block's convolutions) included."""
    return list(model._flatten_layers(include_self=False, recursive=True))  # noqa: SLF001


def _remove(out: str) -> None:
    if os.path.isdir(out) and not os.path.islink(out):
        shutil.rmtree(out, ignore_errors=True)
    elif os.path.lexists(out):
        os.remove(out)


def export(target: str, fmt: str, out, check: bool = True, precision: str = "float32") -> str:
    """Export a run's (or .keras file's) inference model, in float32 (a mixed-precision model rebuilt with its
    weights), to `out` (a path or a writing.Output); load it back and compare with that float32 model. A check
    that fails removes what was written. `precision`: the inference form exported (nn.inference: BatchNorm
    folded; float32, or bfloat16 with float32 logits). Returns a report."""
    from inception_keras.nn.inference import inference_model

    model, _, where = load_inference(target)
    model, mixed = float32_model(model)
    model = inference_model(model, precision)
    export_model(model, fmt, out)
    out = writing.path_of(out)
    size = (sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
            if os.path.isdir(out) else os.path.getsize(out))
    shape = "x".join(str(d) for d in model.input_shape[1:])
    lines = [f"wrote {out} ({fmt}, {size:,} bytes) from {where}: float32 [N, {shape.replace('x', ', ')}] "
             f"images in [0, 1] -> {model.output_shape[-1]} logits"]
    if precision != "float32":
        lines.append(f"exported in {precision} (BatchNorm folded; layers compute in {precision}, logits float32)")
    elif mixed:
        lines.append(f"the model was trained in {mixed}: exported in float32 (the same weights; its layers compute "
                     "in float32)")
    if check:
        try:
            c = compare_exported(model, fmt, out)
        except Exception as e:  # noqa: BLE001 - the runtimes raise many kinds for a model they cannot run
            _remove(out)
            reason = e.problems[0].message if isinstance(e, ConfigError) and e.problems else str(e)
            raise ConfigError(f"{out}: the {fmt} export does not run in {RUNTIMES[fmt]} "
                              f"({(reason.strip().splitlines() or [type(e).__name__])[0][:200]}); removed") from None
        whose = "Keras' (the float32 rebuild's)" if mixed else "Keras'"
        lines.append(f"checked with {c['runtime']}: logits differ from {whose} by at most "
                     f"{c['max_abs']:.3g} (relative {c['relative']:.3g}) on {c['images']} random images")
    return "\n".join(lines)

"""The one model loader: a `.keras` file, weights into a model, and a run directory.

`evaluate`, `predict` and `export` (serve) and a run's resume and `--init-from` warm start (engine) all load
through here, so a damaged file says the same thing wherever it is met: a `LoadError` (a `ConfigError`, exit 2)
naming the file. A run directory gives its `model.keras`, or, for a run that has not finished, its newest
committed backup's weights in a model built from its `config.yaml` (every file written since the first
release, and the registered layer names they use, keep loading).

Keras, and the project's layers (inception_keras.nn, which registers them for `keras.models.load_model`),
are imported inside the functions that load: `runs` imports without TensorFlow.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

from inception_keras import runs, safeio
from inception_keras.errors import ConfigError
from inception_keras.lang.resolve import resolve

WEIGHTS_ONLY = ("not a run directory or a .keras model file (a .weights.h5 file holds no architecture: import with "
                "--out FILE.keras, or load it into build_model(spec, aux=True))")


class LoadError(ConfigError):
    """A model or weights file that is there but does not load. The message names the file; `path` and `reason`
    (the first line of what Keras or h5py said) let a caller say it its own way (`train --init-from`)."""

    def __init__(self, message: str, path: str, reason: str):
        super().__init__(message)
        self.path, self.reason = path, reason


@dataclass
class Loaded:
    """A loaded model: `inference` (one output, the logits), `train` (the model the weights were loaded into:
    the training model with its aux heads for a backup, else the `.keras` file's model), the run's `spec` and
    `recipe` (None for a bare `.keras` file), the file the weights came from and, for the user, `where`."""

    inference: Any
    train: Any
    recipe: Any
    spec: Any
    path: str
    where: str


def _reason(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _regular(path: str, what: str) -> None:
    """A LoadError unless `path` is a regular file within the weights' cap (a FIFO would hang Keras' reader)."""
    if not os.path.lexists(path):
        return  # Keras' own "not found" (and the callers' handling of it) stands
    try:
        with safeio.open_binary(path, what, safeio.LIMITS["weights"]):
            pass
    except ConfigError as e:
        reason = e.problems[0].message if e.problems else str(e)
        raise LoadError(f"{path}: cannot load it: {reason}", path, reason) from None


def load_model(path: str):
    """A .keras file (not compiled), or a LoadError naming it when it is damaged (Keras says "File not found"
    for a zip it cannot read; the file is there, it is broken)."""
    _regular(path, "model file")
    import keras

    from inception_keras.nn import blocks, blocks_next  # noqa: F401 - registers the project's layers

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - Keras raises many kinds for a bad file
        reason = text = _reason(e)
        if "not found" in text.lower() or "zip" in text.lower():
            text = "not a readable .keras file (a zip archive of the model); truncated or corrupt?"
        raise LoadError(f"{path}: cannot load the model: {text}", path, reason) from None


def load_weights(model, path: str, quiet: bool = False, skip_mismatch: bool = False) -> None:
    """model.load_weights(path), with a damaged file (truncated, not HDF5, another network's) a LoadError naming
    it. `quiet`: Keras' warnings hushed (a backup's optimizer state, not needed for inference, is skipped)."""
    _regular(path, "weights file")
    try:
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore")
            model.load_weights(path, skip_mismatch=skip_mismatch)
    except Exception as e:  # noqa: BLE001 - h5py and Keras raise many kinds for a bad file
        reason = _reason(e)
        raise LoadError(f"{path}: cannot load these weights ({reason}); the file is damaged or belongs to another "
                        f"network. Run --resume with --recover to continue from an earlier intact epoch, or start a "
                        f"new run", path, reason) from None


def load_run(run_dir: str) -> Loaded:
    """A run directory's model: its model.keras, else (a run that has not finished) its last committed epoch's
    weights in the models built from its config.yaml. ConfigError when it has neither."""
    spec, recipe, _ = resolve(*runs.config_documents(run_dir))
    model_path = os.path.join(run_dir, runs.MODEL)
    if os.path.exists(model_path):
        model = load_model(model_path)
        return Loaded(single_output(model), model, recipe, spec, model_path, model_path)
    ckpt = runs.read_checkpoint(run_dir)
    if not ckpt:
        raise ConfigError(f"{run_dir}: no {runs.MODEL} and no backup to evaluate (the run has not finished an "
                          f"epoch)")
    from inception_keras.nn.builder import build_models

    models = build_models(spec)
    weights = os.path.join(run_dir, runs.BACKUP, ckpt["weights"])
    load_weights(models.train, weights, quiet=True)
    return Loaded(models.inference, models.train, recipe, spec, weights,
                  f"{weights} (epoch {ckpt['epoch']}; the run has not finished)")


def load(target: str) -> Loaded:
    """A run directory (`load_run`) or a `.keras` file (with its run's recipe when it lies in a run directory:
    best.keras, averaged.keras); ConfigError for anything else, naming it."""
    if os.path.isdir(target):
        return load_run(target)
    if not os.path.exists(target):
        raise ConfigError(f"{target}: no such run directory or model file")
    if not target.endswith(".keras"):
        raise ConfigError(f"{target}: {WEIGHTS_ONLY}")
    model = load_model(target)
    recipe = spec = None
    home = os.path.dirname(os.path.abspath(target))
    if os.path.exists(os.path.join(home, runs.CONFIG)):  # a run's best.keras or averaged.keras: the run's data
        spec, recipe, _ = resolve(*runs.config_documents(home))
    return Loaded(single_output(model), model, recipe, spec, target, target)


def load_inference(target: str):
    """(inference keras.Model with one output, the run's recipe or None, where the weights came from) of a run
    directory or a `.keras` file: what evaluate, predict and export take."""
    loaded = load(target)
    return loaded.inference, loaded.recipe, loaded.where


def single_output(model):
    """The model itself, or for a training model saved whole (a dict of outputs) its main output, the logits."""
    if not isinstance(model.output, dict):
        return model
    import keras

    return keras.Model(model.input, model.output["logits"], name=model.name)

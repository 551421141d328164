"""`inception-keras evaluate`: loss, accuracy and per-class accuracy of a run (or model file) on the
validation split of its data (the official test split for Fashion-MNIST)."""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from inception_keras import runs
from inception_keras.errors import ConfigError
from inception_keras.lang.defaults import DEFAULT_RECIPE
from inception_keras.runs.config import from_config


def _load(target: str, recipe_path: str | None):
    """(inference model, recipe, where the weights came from)."""
    from inception_keras.lang.recipe import load_recipe

    if os.path.isdir(target):
        from inception_keras.nn.builder import build_models

        spec, recipe, _ = from_config(target)
        if recipe_path:
            recipe = load_recipe(recipe_path)
        model_path = os.path.join(target, runs.MODEL)
        if os.path.exists(model_path):
            return load_model(model_path), recipe, model_path
        ckpt = runs.read_checkpoint(target)
        if not ckpt:
            raise ConfigError(f"{target}: no {runs.MODEL} and no backup to evaluate (the run has not finished an "
                              f"epoch)")
        models = build_models(spec)
        weights = os.path.join(target, runs.BACKUP, ckpt["weights"])
        _load_weights(models.train, weights)
        return models.inference, recipe, f"{weights} (epoch {ckpt['epoch']}; the run has not finished)"
    if not os.path.exists(target):
        raise ConfigError(f"{target}: no such run directory or model file")
    return load_model(target), load_recipe(recipe_path or DEFAULT_RECIPE), target


def load_model(path: str):
    """A .keras file, or an error naming it when it is damaged (Keras says "File not found" for a zip it cannot
    read; the file is there, it is broken)."""
    import keras

    from inception_keras.nn import blocks  # noqa: F401 - the project's layers

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - Keras raises many kinds for a bad file
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "not found" in text.lower() or "zip" in text.lower():
            text = "not a readable .keras file (a zip archive of the model); truncated or corrupt?"
        raise ConfigError(f"{path}: cannot load the model: {text}") from None


def _load_weights(model, path):
    """Weights only: the optimizer in the backup is not needed (and not built) for evaluation."""
    import warnings

    from inception_keras.engine.trainer import load_weights

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_weights(model, path)


def evaluate(target: str, recipe_path: str | None = None, data_dir: str | None = None, limit: int | None = None,
             batch: int = 256) -> dict:
    from inception_keras.data import pipeline as D

    model, recipe, where = _load(target, recipe_path)
    ds = recipe.dataset
    if data_dir:
        ds = dataclasses.replace(ds, path=data_dir)
    if limit:
        ds = dataclasses.replace(ds, limit=limit)
    input_shape = tuple(model.input_shape[1:])
    classes = model.output_shape[-1]
    source = D.open_source(ds, classes)
    val = D.pipeline(source.val, input_shape, batch, training=False, resize=ds.resize, cache=False,
                     stored_channels=source.channels, crop_fraction=ds.crop_fraction)
    logits, labels = [], []
    for x, y in val:
        logits.append(np.asarray(model(x, training=False), dtype=np.float64))
        labels.append(np.asarray(y))
    logits, labels = np.concatenate(logits), np.concatenate(labels).astype(int)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[np.arange(len(labels)), labels].mean())
    pred = logits.argmax(axis=1)
    names = source.class_names + [f"class {i}" for i in range(len(source.class_names), classes)]
    per_class = []
    for c in range(classes):
        mask = labels == c
        if mask.any():
            per_class.append({"class": c, "name": names[c], "examples": int(mask.sum()),
                              "accuracy": float((pred[mask] == c).mean())})
    return {"model": where, "data": source.description, "examples": int(len(labels)), "loss": loss,
            "accuracy": float((pred == labels).mean()), "per_class": per_class}


def render(result: dict) -> str:
    lines = [f"model: {result['model']}", f"data: {result['data']} (validation split, {result['examples']:,} "
                                          f"examples)",
             f"loss {result['loss']:.4f}  accuracy {result['accuracy']:.4f}", "",
             f"{'class':<16} {'examples':>8} {'accuracy':>8}"]
    for row in result["per_class"]:
        lines.append(f"{row['class']} {row['name']:<14} {row['examples']:>8,} {row['accuracy']:>8.4f}")
    return "\n".join(lines)

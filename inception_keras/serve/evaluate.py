"""`inception-keras evaluate`: loss, accuracy and per-class accuracy of a run (or model file) on the
validation split of its data (the official test split for Fashion-MNIST)."""
from __future__ import annotations

import dataclasses

import numpy as np

from inception_keras.lang.defaults import DEFAULT_RECIPE
from inception_keras.runs.loader import load_inference


def _load(target: str, recipe_path: str | None, precision: str = "float32"):
    """(inference model, recipe, where the weights came from): a run's own recipe unless `recipe_path` is given;
    the default recipe for a bare .keras file."""
    from inception_keras.lang.recipe import load_recipe
    from inception_keras.nn.inference import inference_model

    model, recipe, where = load_inference(target)
    model = inference_model(model, precision)
    if recipe_path or recipe is None:
        recipe = load_recipe(recipe_path or DEFAULT_RECIPE)
    return model, recipe, where


def evaluate(target: str, recipe_path: str | None = None, data_dir: str | None = None, limit: int | None = None,
             batch: int = 256, precision: str = "float32") -> dict:
    """`precision`: the inference form evaluated (nn.inference: BatchNorm folded; float32 or bfloat16)."""
    from inception_keras.data.pipeline import Pipeline
    from inception_keras.data.sources import open_source

    model, recipe, where = _load(target, recipe_path, precision)
    ds = recipe.dataset
    if data_dir:
        ds = dataclasses.replace(ds, path=data_dir)
    if limit:
        ds = dataclasses.replace(ds, limit=limit)
    input_shape = tuple(model.input_shape[1:])
    classes = model.output_shape[-1]
    source = open_source(ds, classes)
    val = Pipeline.from_recipe(ds, source, input_shape, training=False, batch=batch, cache=False).validation()
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
    return {"model": where, "precision": precision, "data": source.description, "examples": int(len(labels)),
            "loss": loss,
            "accuracy": float((pred == labels).mean()), "per_class": per_class}


def render(result: dict) -> str:
    lines = [f"model: {result['model']} ({result.get('precision', 'float32')})",
             f"data: {result['data']} (validation split, {result['examples']:,} "
                                          f"examples)",
             f"loss {result['loss']:.4f}  accuracy {result['accuracy']:.4f}", "",
             f"{'class':<16} {'examples':>8} {'accuracy':>8}"]
    for row in result["per_class"]:
        lines.append(f"{row['class']} {row['name']:<14} {row['examples']:>8,} {row['accuracy']:>8.4f}")
    return "\n".join(lines)

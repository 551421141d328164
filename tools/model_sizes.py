"""The size of the `model.keras` a run writes, per network: with the optimizer's state (Keras' `model.save` of
the compiled model, what runs.save_model wrote before it saved the lean model) and without it (runs.save_model
now), and the size of one backup (weights + optimizer: what resume needs).

Each network is built from its architecture file (its own input size and classes), compiled as `train` compiles
it with the recipe's optimizer (default train/imagenet.yaml: SGD, momentum 0.9), trained one step on random data
(so the optimizer's slots exist, as after any epoch), then saved all three ways into a temporary folder.
Float32 throughout (the variables are float32 under mixed precision too). Prints a Markdown table.

    nice -n 10 python tools/model_sizes.py arch/googlenet.yaml arch/inception_v3.yaml ...
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def one_step(models, recipe) -> None:
    """One training step on two random images, labels in the form the compiled loss takes."""
    import numpy as np

    classes = models.inference.output.shape[-1]
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (2, *models.inference.input.shape[1:])).astype("float32")
    y = rng.integers(0, classes, 2)
    if recipe.label_smoothing > 0 or (recipe.augment is not None and recipe.augment.mixes):
        y = np.eye(classes, dtype="float32")[y]
    models.train.train_on_batch(x, {k: y for k in models.loss_weights} if models.has_aux else y)


def sizes(arch: str, recipe_path: str) -> dict:
    """{network, parameters, with_optimizer, lean, backup} in bytes, for one architecture file."""
    import keras

    from inception_keras import runs
    from inception_keras.engine.task import compile_model
    from inception_keras.lang.parse import load_arch
    from inception_keras.lang.recipe import load_recipe
    from inception_keras.nn.builder import build_models

    keras.mixed_precision.set_global_policy("float32")
    spec, recipe = load_arch(arch), load_recipe(recipe_path)
    models = build_models(spec)
    compile_model(models, recipe, 1, False)
    one_step(models, recipe)
    with tempfile.TemporaryDirectory() as tmp:
        full = os.path.join(tmp, "full.keras")
        models.inference.save(full)  # what model.keras was: Keras' save of the compiled model
        lean = runs.save_model(models.inference, tmp)
        backup = os.path.join(tmp, "backup.weights.h5")
        models.train.save_weights(backup)  # what callbacks.Backup writes each epoch
        out = {name: os.path.getsize(path) for name, path in
               (("with_optimizer", full), ("lean", lean), ("backup", backup))}
    keras.backend.clear_session()
    return dict(network=spec.name, arch=arch, parameters=models.inference.count_params(),
                optimizer=f"{recipe.optimizer.name}" + (f", momentum {recipe.optimizer.momentum:g}"
                                                        if recipe.optimizer.momentum else ""), **out)


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("arch", nargs="+", help="architecture files")
    p.add_argument("--recipe", default="train/imagenet.yaml", help="whose optimizer compiles the model")
    a = p.parse_args(argv)
    print("| network (architecture file) | parameters | model.keras with the optimizer (before) | model.keras "
          "(now) | backup/epoch-NNNN.weights.h5 |")
    print("|---|---|---|---|---|")
    for arch in a.arch:
        r = sizes(arch, a.recipe)
        print(f"| {r['network']} (`{r['arch']}`) | {r['parameters']:,} | {mb(r['with_optimizer'])} | "
              f"{mb(r['lean'])} | {mb(r['backup'])} |", flush=True)
    print(f"\noptimizer: {r['optimizer']} ({a.recipe}); MB = 10^6 bytes")


if __name__ == "__main__":
    main()

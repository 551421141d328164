"""Writing an imported model: the one place where the three importers (weights.torchvision for torchvision's
GoogLeNet, weights.structural for timm and PyTorch state dicts, weights.keras_apps for keras.applications' files)
check `--out` and write it. It only ever writes the file named, whole (safeio.output: a temporary name, synced,
renamed), never through a link; the CLI has already refused an existing file unless --force."""
from __future__ import annotations

import os

from inception_keras import safeio
from inception_keras.errors import ConfigError
from inception_keras.nn.h5 import save_weights

SUFFIXES = (".weights.h5", ".keras")


def check_output(out_path) -> str:
    """`out_path` as a string, refused unless it names a `.weights.h5` or `.keras` file."""
    out = os.fspath(out_path)
    if not out.endswith(SUFFIXES):
        raise ConfigError(f"{out}: the output must end in .weights.h5 or .keras (weights only, or the whole model)")
    if os.path.isdir(out):
        raise ConfigError(f"{out}: is a directory; --out names the file to write")
    return out


def check_weights(source: str, *models) -> None:
    """Every weight of `models` as the model holds it (after conversion to its dtype: a float64 value beyond
    float32's range is an infinity here) finite, and every BatchNorm `moving_variance` >= 0 (a negative one
    makes the normalization's square root a NaN); otherwise a ConfigError naming the tensor."""
    import numpy as np

    seen = set()
    for model in models:
        for v in model.weights if model is not None else ():
            if id(v) in seen:
                continue
            seen.add(id(v))
            a = np.asarray(v.numpy())
            name = safeio.shown(v.path)[:120]
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                bad = int(a.size - np.isfinite(a).sum())
                raise ConfigError(f"{source}: weight '{name}' holds {bad:,} NaN or infinite value(s) as {a.dtype} "
                                  "(a value beyond the range of the model's dtype becomes infinite); refused, "
                                  "nothing written")
            if v.path.rsplit("/", 1)[-1] == "moving_variance" and (a < 0).any():
                raise ConfigError(f"{source}: weight '{name}' holds {int((a < 0).sum()):,} negative variance(s) "
                                  f"(the smallest {float(a.min()):.3g}); a variance is >= 0; refused, nothing "
                                  "written")


def write_model(out: str, inference, train=None, source: str = "the imported weights") -> None:
    """`.keras`: the inference model whole (what predict, evaluate and export take); `.weights.h5`: the weights
    of `train` (the training model, aux heads included) or of `inference` when there is no other. Every
    importer writes here, so every source's weights are checked here first (`check_weights`)."""
    check_weights(source, inference, train)
    try:
        if os.path.dirname(out):
            os.makedirs(os.path.dirname(out), exist_ok=True)
        with safeio.output(out, force=True) as tmp:
            if out.endswith(".keras"):
                inference.save(tmp)
            else:  # in memory, then os.write: a full disk or a file-size limit is an OSError, not a crash
                save_weights(train if train is not None else inference, tmp)
    except OSError as e:
        raise ConfigError(f"{out}: cannot write: {e.strerror or e}") from None


def normalize_note(spec, otherwise: str = "") -> str:
    """How the written model's input layer treats images: the architecture's `normalize`, or `otherwise`."""
    if spec.normalize:
        return (f"; its input layer normalizes [0, 1] images with mean {list(spec.normalize.mean)}, std "
                f"{list(spec.normalize.std)}")
    return "; it takes the images as given (no `normalize` in the architecture" + (f"; {otherwise})" if otherwise
                                                                                 else ")")

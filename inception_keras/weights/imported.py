"""Writing an imported model: the one place where the three importers (weights.torchvision for torchvision's
GoogLeNet, weights.structural for timm and PyTorch state dicts, weights.keras_apps for keras.applications' files)
check `--out` and write it, by the one rule for outputs (`inception_keras.writing`): a `.weights.h5` or `.keras`
name, never over an existing file without --force, never a folder; written whole (a temporary name, synced,
renamed), never through a link. Every source's weights are checked here first (`check_weights`)."""
from __future__ import annotations

from inception_keras import safeio, writing
from inception_keras.errors import ConfigError
from inception_keras.nn.h5 import save_weights


def check_output(out_path) -> writing.Output:
    """`out_path` (a path, or the command line's writing.Output with its --force) checked as a model output before
    any work: a `.weights.h5` or `.keras` name that may be written."""
    return writing.check(out_path, writing.MODEL)


def is_whole_model(out) -> bool:
    """A `.keras` output: the whole inference model (else `.weights.h5`: the weights)."""
    return writing.path_of(out).endswith(".keras")


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



def write_model(out, inference, train=None, source: str = "the imported weights") -> None:
    """`.keras`: the inference model whole (what predict, evaluate and export take); `.weights.h5`: the weights
    of `train` (the training model, aux heads included) or of `inference` when there is no other. The weights are
    checked first (`check_weights`): nothing is written when one is not finite or a variance is negative."""
    check_weights(source, inference, train)
    with writing.output(out, writing.MODEL) as tmp:
        if is_whole_model(out):
            inference.save(tmp)
        else:  # in memory, then os.write: a full disk or a file-size limit is an OSError, not a crash
            save_weights(train if train is not None else inference, tmp)


def normalize_note(spec, otherwise: str = "") -> str:
    """How the written model's input layer treats images: the architecture's `normalize`, or `otherwise`."""
    if spec.normalize:
        return (f"; its input layer normalizes [0, 1] images with mean {list(spec.normalize.mean)}, std "
                f"{list(spec.normalize.std)}")
    return "; it takes the images as given (no `normalize` in the architecture" + (f"; {otherwise})" if otherwise
                                                                                 else ")")

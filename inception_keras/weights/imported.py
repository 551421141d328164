"""Writing an imported model: the one place where the three importers (weights.torchvision for torchvision's
GoogLeNet, weights.structural for timm and PyTorch state dicts, weights.keras_apps for keras.applications' files)
check `--out` and write it, by the one rule for outputs (`inception_keras.writing`): a `.weights.h5` or `.keras`
name, never over an existing file without --force, never a folder; written whole (a temporary name, synced,
renamed), never through a link."""
from __future__ import annotations

from inception_keras import writing


def check_output(out_path) -> writing.Output:
    """`out_path` (a path, or the command line's writing.Output with its --force) checked as a model output before
    any work: a `.weights.h5` or `.keras` name that may be written."""
    return writing.check(out_path, writing.MODEL)


def is_whole_model(out) -> bool:
    """A `.keras` output: the whole inference model (else `.weights.h5`: the weights)."""
    return writing.path_of(out).endswith(".keras")


def write_model(out, inference, train=None) -> None:
    """`.keras`: the inference model whole (what predict, evaluate and export take); `.weights.h5`: the weights
    of `train` (the training model, aux heads included) or of `inference` when there is no other."""
    with writing.output(out, writing.MODEL) as tmp:
        if is_whole_model(out):
            inference.save(tmp)
        else:
            (train if train is not None else inference).save_weights(tmp)


def normalize_note(spec, otherwise: str = "") -> str:
    """How the written model's input layer treats images: the architecture's `normalize`, or `otherwise`."""
    if spec.normalize:
        return (f"; its input layer normalizes [0, 1] images with mean {list(spec.normalize.mean)}, std "
                f"{list(spec.normalize.std)}")
    return "; it takes the images as given (no `normalize` in the architecture" + (f"; {otherwise})" if otherwise
                                                                                 else ")")

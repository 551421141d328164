"""inception-keras: the Inception family (GoogLeNet, Inception-v3, Inception-v4, Inception-ResNet-v2, Xception)
declared in YAML, built with Keras 3, trained with tf.distribute.

Each network is a YAML file under arch/ (a training recipe one under train/), checked against its original's
own code: GoogLeNet (Inception v1) against MXNet's d2l seed and torchvision, Inception-v3, Inception-ResNet-v2
and Xception against keras.applications, Inception-v4 against timm.
"""
from inception_keras.errors import ConfigError, TrainingError
from inception_keras.lang.arch import ArchSpec
from inception_keras.lang.parse import load_arch
from inception_keras.version import __version__


def build_model(spec_or_path, aux: bool = False):
    """Build the keras.Model an architecture YAML (path) or `ArchSpec` describes (see builder.build_model)."""
    from inception_keras.nn.builder import build_model as _build

    return _build(spec_or_path, aux=aux)


def compare_runs(paths, metric: str = "val_accuracy", on_warning=None, by_run: bool = False):
    """Compare run directories (or globs, or metrics.csv files): a pandas DataFrame, one row per seed group
    (runs that differ only in the seed: n, mean, sd, min, max of `metric`) or with `by_run=True` one row per
    run, best `metric` first, with the configuration keys that differ (see compare.compare_runs)."""
    from inception_keras.compare import compare_runs as _compare

    return _compare(paths, metric=metric, on_warning=on_warning, by_run=by_run)


__all__ = ["ArchSpec", "ConfigError", "TrainingError", "build_model", "compare_runs", "load_arch", "__version__"]

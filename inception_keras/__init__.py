"""inception-keras: GoogLeNet (Inception v1) declared in YAML, built with Keras, trained with tf.distribute."""
from inception_keras.errors import ConfigError, TrainingError
from inception_keras.lang.arch import ArchSpec
from inception_keras.lang.parse import load_arch
from inception_keras.version import __version__


def build_model(spec_or_path, aux: bool = False):
    """Build the keras.Model an architecture YAML (path) or `ArchSpec` describes (see builder.build_model)."""
    from inception_keras.nn.builder import build_model as _build

    return _build(spec_or_path, aux=aux)


def create_model(name, weights=None, include_top: bool = True, input_tensor=None, input_shape=None, pooling=None,
                 classes=None, classifier_activation="softmax", features_only: bool = False, out_indices=None):
    """A network by name (`inception_v3`, `xception`, ...; `inception-keras list`) or architecture file, with
    keras.applications' arguments and timm's features_only/out_indices (see zoo.create.create_model)."""
    from inception_keras.zoo.create import create_model as _create

    return _create(name, weights=weights, include_top=include_top, input_tensor=input_tensor,
                   input_shape=input_shape, pooling=pooling, classes=classes,
                   classifier_activation=classifier_activation, features_only=features_only, out_indices=out_indices)


def preprocess_input(x, name):
    """[0, 255] images (channels last) as network `name`'s weights expect them (see zoo.create.preprocess_input):
    for inception_v3, inception_resnet_v2 and xception, keras.applications' own preprocess_input."""
    from inception_keras.zoo.create import preprocess_input as _preprocess

    return _preprocess(x, name)


def compare_runs(paths, metric: str = "val_accuracy", on_warning=None, by_run: bool = False):
    """Compare run directories (or globs, or metrics.csv files): a pandas DataFrame, one row per seed group
    (runs that differ only in the seed: n, mean, sd, min, max of `metric`) or with `by_run=True` one row per
    run, best `metric` first, with the configuration keys that differ (see compare.compare_runs)."""
    from inception_keras.compare import compare_runs as _compare

    return _compare(paths, metric=metric, on_warning=on_warning, by_run=by_run)


__all__ = ["ArchSpec", "ConfigError", "TrainingError", "build_model", "compare_runs", "create_model", "load_arch",
           "preprocess_input", "__version__"]

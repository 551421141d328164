"""inception-keras: the Inception family (GoogLeNet, Inception-v3, Inception-v4, Inception-ResNet-v2, Xception)
declared in YAML, built with Keras 3, trained with tf.distribute.

Each network is a YAML file under arch/ (a training recipe one under train/), checked against its original's
own code: GoogLeNet (Inception v1) against MXNet's d2l seed and torchvision, Inception-v3, Inception-ResNet-v2
and Xception against keras.applications, Inception-v4 against timm.
"""
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from inception_keras.errors import ConfigError, TrainingError
from inception_keras.lang.arch import ArchSpec
from inception_keras.lang.defaults import DEFAULT_ARCH, DEFAULT_RECIPE
from inception_keras.lang.parse import load_arch
from inception_keras.version import __version__


def build_model(spec_or_path, aux: bool = False):
    """Build the keras.Model an architecture YAML (path) or `ArchSpec` describes (see builder.build_model)."""
    from inception_keras.nn.builder import build_model as _build

    return _build(spec_or_path, aux=aux)


def train(arch: str = DEFAULT_ARCH, recipe: str = DEFAULT_RECIPE, sets: Mapping[str, Any] | Iterable[str] | None = None,
          run_dir: str | None = None, *, resume: str | None = None, init_from: str | None = None,
          limit: int | None = None, data_dir: str | None = None, strategy: str | None = None,
          runs_root: str | None = None, recover: bool = False, verbose: int | None = None,
          log: Callable[..., None] | None = None) -> str:
    """Train as `inception-keras train` does (the same plan, run directory, resume and files); return the run
    directory. `sets` changes recipe keys (`arch.` prefixes an architecture key), as a mapping
    ({"freeze": ["b1"], "phases": [{"epoch": 3, "freeze": [], "learning_rate": 3e-4}]}) or as the command line's
    "key=value" strings; the other arguments are train's flags (`init_from`: --init-from, `limit`: --limit...).
    `log` receives the lines train prints (print by default); `verbose` is Keras' progress (0: none).
    Raises ConfigError for bad input (naming the file and line), TrainingError for a failed run."""
    from inception_keras.engine.plan import TrainOptions, default_runs_root
    from inception_keras.engine.trainer import train as _train
    from inception_keras.lang.overrides import set_items

    options = TrainOptions(arch, recipe, run_dir=run_dir, resume=resume, sets=set_items(sets), limit=limit,
                           data_dir=data_dir, strategy=strategy, verbose=verbose, init_from=init_from,
                           recover=recover, runs_root=runs_root if runs_root is not None else default_runs_root())
    return _train(options, log=log)


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
           "preprocess_input", "train", "__version__"]

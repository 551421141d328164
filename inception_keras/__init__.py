"""inception-keras: GoogLeNet (Inception v1) declared in YAML, built with Keras, trained with tf.distribute."""
__version__ = "0.1.0"

from .errors import ConfigError, TrainingError  # noqa: E402
from .spec import ArchSpec, load_arch  # noqa: E402


def build_model(spec_or_path, aux: bool = False):
    """Build the keras.Model an architecture YAML (path) or `ArchSpec` describes (see builder.build_model)."""
    from .builder import build_model as _build

    return _build(spec_or_path, aux=aux)


__all__ = ["ArchSpec", "ConfigError", "TrainingError", "build_model", "load_arch", "__version__"]

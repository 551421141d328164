"""Kept so that `import inception_keras.blocks` (the documented way before the subpackages) still registers the
project's Keras layers for `keras.models.load_model`; the layers live in `inception_keras.nn.blocks`, and
`import inception_keras.nn` registers them too."""
from inception_keras.nn.blocks import (
                                       AdaptiveAveragePooling2D,
                                       InputNormalization,
                                       LocalResponseNormalization,
                                       Padding2D,
                                       Rescale2D,
                                       SymmetricPadding2D,
                                       lrn,
)

__all__ = ["AdaptiveAveragePooling2D", "InputNormalization", "LocalResponseNormalization", "Padding2D",
           "Rescale2D", "SymmetricPadding2D", "lrn"]

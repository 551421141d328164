"""The package version and its one-line description, the one place each is written (setup.cfg reads the
version; the description is setup.cfg's, `--help`'s and the package docstring's first line, checked equal by
tests/project/test_identity.py)."""

__version__ = "0.1.0"
DESCRIPTION = ("The Inception family (GoogLeNet, Inception-v3, Inception-v4, Inception-ResNet-v2, Xception) declared "
               "in YAML, built with Keras 3, trained with tf.distribute")

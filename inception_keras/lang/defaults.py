"""The architecture and recipe that commands use without `--arch`/`--recipe` (paths from the repository root)."""

DEFAULT_ARCH = "arch/googlenet.yaml"
DEFAULT_RECIPE = "train/fashion_mnist.yaml"

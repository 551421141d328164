"""The wheel carries the repository's `arch/` and `train/` folders as `inception_keras/_files/arch` and
`inception_keras/_files/train` (package_dir maps the folders there; the folders stay the one source of truth).
setup.cfg holds everything else; `inception_keras.lang.catalog` reads the files with importlib.resources."""
from setuptools import find_packages, setup

SHIPPED = {"inception_keras._files.arch": "arch", "inception_keras._files.train": "train"}

setup(
    packages=find_packages(include=["inception_keras*"]) + list(SHIPPED),
    package_dir=SHIPPED,
    package_data={name: ["*.yaml"] for name in SHIPPED},
)

"""The architectures and recipes that ship: a name (`inception_v3`, `quick`) -> its file.

The repository's `arch/` and `train/` folders are the one source of truth: a built wheel carries them as
`inception_keras/_files/arch` and `inception_keras/_files/train` (setup.py maps the folders there), read with
importlib.resources; a source checkout (no `_files` inside the package) reads the folders next to the package.

Wherever a command takes an architecture or recipe file it takes a name too (`resolve`): a path that exists always
wins; otherwise `inception_v3`, `inception_v3.yaml` and `arch/inception_v3.yaml` all name the packaged file, from any
working directory; a name that matches nothing is a ConfigError with the names and a did-you-mean.
"""
from __future__ import annotations

import os
from importlib import resources

from inception_keras.errors import ConfigError
from inception_keras.lang.checks import did_you_mean

ARCH, RECIPE = "arch", "train"  # the folders
WHAT = {ARCH: "architecture", RECIPE: "recipe"}
SUFFIX = ".yaml"


def folder(kind: str) -> str:
    """The directory holding the shipped files of `kind` (ARCH or RECIPE)."""
    packaged = resources.files("inception_keras").joinpath("_files", kind)
    if packaged.is_dir():
        return os.fspath(packaged)  # a wheel installs files, so the resource is a real directory
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", kind))


def names(kind: str) -> list[str]:
    """The shipped names of `kind`, sorted (file names without `.yaml`)."""
    base = folder(kind)
    if not os.path.isdir(base):
        return []
    return sorted(f[:-len(SUFFIX)] for f in os.listdir(base)
                  if f.endswith(SUFFIX) and os.path.isfile(os.path.join(base, f)))


def path_of(name: str, kind: str) -> str:
    """The shipped file of a known name (a ConfigError listing the names otherwise)."""
    if name not in names(kind):
        raise ConfigError(unknown(name, kind))
    return os.path.normpath(os.path.join(folder(kind), name + SUFFIX))


def unknown(ref: str, kind: str) -> str:
    known = names(kind)
    return (f"no {WHAT[kind]} file or name '{ref}'{did_you_mean(_stem(ref, kind), known)} "
            f"(names: {', '.join(known)}; `inception-keras list` shows them)")


def _stem(ref: str, kind: str) -> str:
    """`arch/inception_v3.yaml`, `inception_v3.yaml` -> `inception_v3` (the name a reference may mean)."""
    stem = ref.replace(os.sep, "/")
    stem = stem[len(kind) + 1:] if stem.startswith(kind + "/") else stem
    return stem[:-len(SUFFIX)] if stem.endswith(SUFFIX) else stem


def resolve(ref, kind: str) -> str:
    """The file a command's architecture or recipe argument means: the path itself when it exists (the user's file
    always wins), else the shipped file of that name. A path-like reference that is neither stays as it is (the
    reader reports the missing file); a bare name that matches nothing is a ConfigError."""
    ref = os.fspath(ref)
    if os.path.lexists(ref):
        return ref
    stem = _stem(ref, kind)
    if "/" not in stem and stem in names(kind):
        return path_of(stem, kind)
    if "/" in ref or os.sep in ref or ref.endswith((SUFFIX, ".yml")):
        return ref
    raise ConfigError(unknown(ref, kind))

"""The one rule for every file a command writes (`--plot`, `--json`, `--out`): checked before the work, applied
again at the write.

An output is an `Output`: its path, its `Kind` (the suffixes its name must end in; whether it is a folder, as a
SavedModel is), whether the user passed `--force`, and the flag that named it (the prefix of every message).
`cli/outputs.py` declares each command's output and hands the library an `Output`; a library caller may pass a
plain path, which is an output without `--force`.

  - the name ends in one of its kind's suffixes (`.png`, `.json`, `.weights.h5` or `.keras`, ...);
  - a path that exists is refused without `--force`; with it, a regular file or a symbolic link (the link itself,
    never what it points to) is replaced. A folder, a FIFO, a device or a socket is never replaced, except that a
    folder output (a SavedModel) replaces an empty folder or an earlier SavedModel (nothing but saved_model.pb,
    fingerprint.pb, variables/ with its index and data shards, empty assets/);
  - refused outright, even with `--force`: the working directory or any folder above it (`.`, `..`), a run
    directory, and a file directly in a run directory (only its own trainer writes there);
  - the folder must exist, or is created at the write for the outputs declared so (`make_folder`);
  - the file is written under a temporary name in the same folder (`.tmp-PID-NAME`, a name planted there
    beforehand removed first), synced, checked again, then renamed onto the name: a rename replaces a link
    itself and never writes through it, a reader sees the old file or the new one. On any failure the
    temporary is removed and the name is as it was.

Below everything but `safeio` and `errors`: lang (the network's picture), data (`show`), compare, engine
(`bench --json`), weights and serve write through it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from inception_keras import safeio
from inception_keras.errors import ConfigError

RUN_FILES = ("config.yaml", "state.json")  # what makes a folder a run directory (runs.CONFIG, runs.STATE)


@dataclass(frozen=True)
class Kind:
    """What an output is: `what` names it in messages, its name must end in one of `suffixes` (`any_case`: .PNG
    too), and `folder` says that it is a directory (a SavedModel), not a file."""

    what: str
    suffixes: tuple[str, ...] = ()
    any_case: bool = False
    folder: bool = False


PNG = Kind("the picture is a PNG", (".png",), any_case=True)
JSON = Kind("the figures are written as JSON", (".json",), any_case=True)
MODEL = Kind("the output is Keras weights or a whole model", (".weights.h5", ".keras"))
TFLITE = Kind("a tflite export is a TFLite file", (".tflite",))
ONNX = Kind("an onnx export is an ONNX file", (".onnx",))
SAVED_MODEL = Kind("a saved_model export is a folder", folder=True)
EXPORTS = {"saved_model": SAVED_MODEL, "tflite": TFLITE, "onnx": ONNX}  # `export --format`: what --out is


@dataclass(frozen=True)
class Output:
    """A path to write and how: its kind, `force` (the user's `--force`), the `flag` that named it ("--plot"),
    `make_folder` (its folder is created when missing). Usable wherever a path is (`os.fspath`, `str`)."""

    path: str
    kind: Kind
    force: bool = False
    flag: str = ""
    make_folder: bool = False

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path


def as_output(target, kind: Kind) -> Output:
    """`target` (an Output, or a plain path: no --force) as an output of `kind`: the writer's kind, the caller's
    path, --force and flag."""
    if isinstance(target, Output):
        return dataclasses.replace(target, kind=kind)
    return Output(os.fspath(target), kind)


def path_of(target) -> str:
    """The path of an Output or of a path."""
    return os.fspath(target)


def _refuse(out: Output, message: str) -> ConfigError:
    where = safeio.shown(out.path)
    return ConfigError(f"{out.flag} {where}: {message}" if out.flag else f"{where}: {message}")


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:  # a file in the way of the path (NotADirectoryError), no permission
        raise ConfigError(f"{safeio.shown(path)}: cannot be written: {e.strerror or e}") from None


def is_run_directory(folder: str) -> bool:
    return any(os.path.lexists(os.path.join(folder, name)) for name in RUN_FILES)


def _resolved(path: str) -> str:
    """`path` absolute with its folder's links resolved, its last component kept (a link is not followed)."""
    full = os.path.abspath(path)
    return os.path.join(os.path.realpath(os.path.dirname(full)), os.path.basename(full))


_SHARD = re.compile(r"variables\.(index|data-\d+-of-\d+)")


def is_saved_model(path: str) -> bool:
    """A folder that holds a SavedModel and nothing else (what `export --format saved_model` writes): saved_model.pb
    and fingerprint.pb, variables/ with its index and data shards, empty assets/; no link, nothing but regular
    files and those folders."""
    try:
        top = {e.name: e for e in os.scandir(path)}
        if "saved_model.pb" not in top or not set(top) <= {"saved_model.pb", "fingerprint.pb", "keras_metadata.pb",
                                                            "variables", "assets", "assets.extra"}:
            return False
        for name, entry in top.items():
            if name.endswith(".pb") and not entry.is_file(follow_symlinks=False):
                return False
            if not name.endswith(".pb"):
                if not entry.is_dir(follow_symlinks=False):
                    return False
                inside = list(os.scandir(entry.path))
                if name != "variables" and inside:
                    return False
                if not all(_SHARD.fullmatch(e.name) and e.is_file(follow_symlinks=False) for e in inside):
                    return False
    except OSError:
        return False
    return True


def check(target, kind: Kind | None = None) -> Output:
    """Refuse (ConfigError) what `target` may not be written to: the rule of the module's docstring, before any
    work. Returns the Output."""
    out = as_output(target, kind if kind is not None else target.kind)
    _check_suffix(out)
    where = _resolved(out.path)
    cwd = os.path.realpath(os.getcwd())
    if where == cwd or cwd.startswith(where.rstrip(os.sep) + os.sep):
        raise _refuse(out, "is the working directory or a folder above it; never replaced, even with --force")
    info = _lstat(out.path)
    if info is not None:
        _check_existing(out, info)
    folder = os.path.dirname(where)
    if os.path.isdir(folder) and is_run_directory(folder):
        raise _refuse(out, f"{safeio.shown(folder)} is a run directory; only its own trainer writes there (choose "
                           "a path outside it)")
    if not out.make_folder and not os.path.isdir(folder):
        raise _refuse(out, f"the folder {safeio.shown(folder)} does not exist")
    return out


def _check_suffix(out: Output) -> None:
    if not out.path:
        raise _refuse(out, "an empty name; name the output")
    suffixes = out.kind.suffixes
    name = out.path.lower() if out.kind.any_case else out.path
    if suffixes and not name.endswith(tuple(s.lower() if out.kind.any_case else s for s in suffixes)):
        names = " or ".join(suffixes)
        raise _refuse(out, f"{out.kind.what}; name a file ending in {names}")


def _check_existing(out: Output, info: os.stat_result) -> None:
    """An existing path: a file or a link is replaced only with --force; a folder only when it is a folder output's
    own kind (empty, or a SavedModel) and --force says so; anything else never."""
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        if is_run_directory(out.path):
            raise _refuse(out, "is a run directory; never replaced, even with --force")
        if not out.kind.folder:
            raise _refuse(out, "is a folder; an output file never replaces a folder, even with --force (name a file)")
        if os.listdir(out.path) and not is_saved_model(out.path):
            raise _refuse(out, "is a folder that is not a SavedModel; never replaced, even with --force (choose a "
                               "new name)")
    elif not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise _refuse(out, "exists and is not a regular file (a pipe, device or socket); never replaced, even with "
                           "--force")
    if not out.force:
        raise _refuse(out, "exists; not overwritten (pass --force to replace it, or choose a new name)")


@contextlib.contextmanager
def output(target, kind: Kind) -> Iterator[str]:
    """A temporary name beside the output to write to (a library's save(), savefig(), export()); on success it is
    synced, the output checked again and the temporary renamed onto it; on any failure the temporary is removed.
    `target`: an Output (from the command line) or a path (no --force). An OSError is a ConfigError naming it."""
    out = check(target, kind)
    folder = os.path.dirname(_resolved(out.path))
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(_resolved(out.path))}")  # suffix kept
    try:
        if out.make_folder:
            os.makedirs(folder, exist_ok=True)
        safeio.remove_stale(folder)  # leftovers of writers killed earlier (kill -9): their PID is gone
        _remove(tmp)  # a name planted beforehand (a link) is never written through
        yield tmp
        sync(tmp)
        check(out)  # what appeared at the name meanwhile is judged by the same rule
        _rename(tmp, out.path)
        sync_folder(folder)
    except BaseException as e:
        _remove(tmp)
        if isinstance(e, OSError):
            raise _refuse(out, f"cannot write: {e.strerror or e}") from None
        raise


def _rename(tmp: str, path: str) -> None:
    """Rename `tmp` onto `path`. A file onto a file or a link: one rename (replacing the link itself). A folder
    (checked: empty or a SavedModel) at `path`, or a folder output onto a file or a link: what is there is moved
    aside first and removed after, put back when the rename fails."""
    info = _lstat(path)
    folder_tmp = os.path.isdir(tmp) and not os.path.islink(tmp)
    if info is None or not (stat.S_ISDIR(info.st_mode) or folder_tmp):
        os.replace(tmp, path)
        return
    aside = os.path.join(os.path.dirname(tmp), f".old-{os.getpid()}-{os.path.basename(path)}")
    _remove(aside)  # left by a killed process of the same id
    os.rename(path, aside)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(aside, path)
        raise
    _remove(aside)


def _remove(path: str) -> None:
    """Remove a temporary (a file, a link or a folder this process wrote); nothing when it is not there."""
    info = _lstat(path)
    if info is None:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.remove(path)


def sync(path: str) -> None:
    """fsync a written file (a folder's files one by one, then the folders)."""
    if os.path.isdir(path) and not os.path.islink(path):
        for dp, _, fs in os.walk(path):
            for f in fs:
                sync(os.path.join(dp, f))
            sync_folder(dp)
        return
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: str) -> None:
    """fsync a folder, so that a rename in it survives a power cut (where the file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_new(target, data: bytes | str, kind: Kind) -> None:
    """Write `data` to the output `target` whole or not at all (the rule of `output`)."""
    with output(target, kind) as tmp:
        safeio.write_file(tmp, data)

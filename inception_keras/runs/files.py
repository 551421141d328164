"""The run directory's file names and how a file in it is written: whole or not at all.

    config.yaml    the resolved architecture and recipe (`--set`s applied, defaults filled)
    env.json       versions, devices, strategy, replicas, workers, data source, command line, git commit
    metrics.csv    one row per completed epoch, named columns (rewritten atomically from the backup)
    state.json     status (running, finished, failed, interrupted), epochs done and planned
    backup/        checkpoint.json + epoch-NNNN.weights.h5 (model and optimizer): the resume point
    model.keras    the inference model, at the end: architecture and weights, no optimizer state (`lean`)

Every file is written through a temporary name and renamed (`atomic_write`, `save_model`); what an interrupted
write leaves behind is recognised and removed (`remove_temporaries`).
"""
from __future__ import annotations

import contextlib
import json
import os
import re

from inception_keras import safeio
from inception_keras.errors import ConfigError

CONFIG = "config.yaml"
ENV = "env.json"
METRICS = "metrics.csv"
STATE = "state.json"
MODEL = "model.keras"
BACKUP = "backup"
CHECKPOINT = "checkpoint.json"
LOCK = ".lock"
STUDY = "study.journal"  # a search directory's Optuna study (engine/search.py); compare reads its trials
MAX_JSON = safeio.LIMITS["json"]


def atomic_write(path: str, text: str) -> None:
    """Write a file whole or not at all: a temporary file, synced, then renamed over `path`. On a failure
    (a full disk) the temporary file is removed and `path` is as it was."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)  # left by a killed process of the same id
        safeio.write_file(tmp, text)  # O_EXCL | O_NOFOLLOW: never through a link planted under the name
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_json(path: str, obj) -> None:
    """`obj` as indented JSON, atomically (checkpoint.json, env.json)."""
    atomic_write(path, json.dumps(obj, indent=1) + "\n")


def read_json(path: str, mapping: bool = True) -> dict | None:
    """A small JSON file (read bounded, without blocking on a pipe), or None when it does not exist; with
    `mapping`, anything but a JSON object is an error naming the file."""
    if not os.path.lexists(path):
        return None
    try:
        value = json.loads(safeio.read_text(path, os.path.basename(path), MAX_JSON))
    except ConfigError as e:
        raise ConfigError(f"{path}: cannot read: {e.problems[0].message if e.problems else e}") from None
    except (ValueError, RecursionError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    if mapping and not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a JSON object, found {type(value).__name__} {short_json(value)}")
    return value


def short_json(value) -> str:
    """`value` as JSON for a message, cut at 40 characters."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_writable(run_dir: str) -> None:
    """Fail before any training when the run directory, or a folder already in it (backup/, tensorboard/ and
    its subfolders), cannot be written, or when its name is not UTF-8 (TensorFlow's writers need UTF-8 paths)."""
    try:
        os.path.abspath(run_dir).encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"run directory {safeio.shown(run_dir)}: its name is not UTF-8, which TensorFlow cannot "
                          "write to; choose a UTF-8 name") from None
    try:
        os.makedirs(os.path.join(run_dir, BACKUP), exist_ok=True)
    except OSError as e:
        raise ConfigError(f"run directory {run_dir} is not writable: {e.strerror or e}") from None
    for folder in _folders(run_dir):
        probe = os.path.join(folder, f".write-test-{os.getpid()}")
        try:
            safeio.write_file(probe, "ok")
            os.remove(probe)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.remove(probe)
            raise ConfigError(f"run directory {run_dir} is not writable ({folder}: {e.strerror or e})") from None


def _folders(run_dir: str) -> list[str]:
    """The run directory and the folders in it, two levels deep (backup/, tensorboard/train, ...)."""
    out = [run_dir]
    for dp, dns, _ in os.walk(run_dir):
        depth = os.path.relpath(dp, run_dir).count(os.sep) + (dp != run_dir)
        if depth >= 2:
            dns[:] = []
        out += [os.path.join(dp, d) for d in sorted(dns)]
    return out


def save_model(model, run_dir: str, name: str = MODEL) -> str:
    """model.keras (or `name`: best.keras, averaged.keras), whole or not at all: saved under a temporary name,
    then renamed. What is saved is `lean(model)`: the network and its weights, without the optimizer's state
    (the backups keep that for resume)."""
    path = os.path.join(run_dir, name)
    tmp = os.path.join(run_dir, f".model.tmp-{os.getpid()}.keras")
    try:
        lean(model).save(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return path


def lean(model):
    """The same network, uncompiled: a functional model on `model`'s own layers and variables (nothing is
    copied), whose `.keras` file holds the architecture and the weights but neither the optimizer's variables
    (momentum, Adam's moments: one or two more copies of the weights) nor its compile configuration. Keras 3's
    `save` has no include_optimizer flag; a model that was never compiled has no optimizer to save."""
    if getattr(model, "optimizer", None) is None:
        return model
    # keras.Model(...) without importing keras here (runs is imported by compare, which never imports Keras):
    # the builder's models are functional, whose class takes (inputs, outputs, name)
    return type(model)(model.input, model.output, name=model.name)


_TEMPORARY = re.compile(r"(\.tmp-\d+$|^\.write-test-\d+$|\.tmp\.weights\.h5$|^\.model\.tmp-\d+\.keras$)")


def remove_temporaries(run_dir: str) -> list[str]:
    """Remove the temporary files an interrupted write leaves (`*.tmp-PID`, `.write-test-PID`, a weights file
    not yet renamed, a model not yet renamed); committed files are never touched."""
    removed = []
    for where in (run_dir, os.path.join(run_dir, BACKUP)):
        try:
            names = os.listdir(where)
        except OSError:
            continue
        for name in names:
            if _TEMPORARY.search(name):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(where, name))
                    removed.append(os.path.join(where, name))
    return removed

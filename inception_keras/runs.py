"""The run directory: what a run leaves behind, written so that nothing is lost.

    config.yaml    the resolved architecture and recipe (`--set`s applied, defaults filled)
    env.json       versions, devices, strategy, replicas, workers, data source, command line, git commit
    metrics.csv    one row per completed epoch, named columns (rewritten atomically from the backup)
    state.json     status (running, finished, failed, interrupted), epochs done and planned
    backup/        checkpoint.json + epoch-NNNN.weights.h5 (model and optimizer): the resume point
    model.keras    the inference model, at the end

The commit point of an epoch is `backup/checkpoint.json`, replaced atomically
after the epoch's weights are on disk; it carries the metric rows of every
epoch done, and metrics.csv is rewritten from it. A run killed at any moment
therefore resumes from its last committed epoch with each epoch in the CSV
exactly once.
"""
from __future__ import annotations

import csv
import fcntl
import glob
import io
import json
import os
import socket
import time

import yaml

from .errors import ConfigError
from .schema import Document, load_document

CONFIG = "config.yaml"
ENV = "env.json"
METRICS = "metrics.csv"
STATE = "state.json"
MODEL = "model.keras"
BACKUP = "backup"
CHECKPOINT = "checkpoint.json"
COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_seconds",
           "images_per_second"]


def atomic_write(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: str, obj) -> None:
    """`obj` as indented JSON, atomically (checkpoint.json, env.json)."""
    atomic_write(path, json.dumps(obj, indent=1) + "\n")


def read_json(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None


def read_state(run_dir: str) -> dict | None:
    return read_json(os.path.join(run_dir, STATE))


def write_state(run_dir: str, **fields) -> dict:
    state = read_state(run_dir) or {}
    state.update(fields, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    atomic_write(os.path.join(run_dir, STATE), json.dumps(state, indent=2) + "\n")
    return state


def read_config(run_dir: str) -> dict | None:
    """config.yaml as plain data, or None when the run directory has none (or it holds no YAML at all)."""
    doc = load_config(run_dir)
    return None if doc is None else doc.data


def load_config(run_dir: str) -> Document | None:
    """config.yaml through the project's YAML loader: its data and the line of every value, or None.

    A file that cannot be read raises ConfigError ('<path>: cannot read: ...'), one that is not YAML the
    loader's ConfigError (file, line and column).
    """
    path = os.path.join(run_dir, CONFIG)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        return None  # empty, or comments only: no configuration (as yaml.safe_load's None)
    return load_document(path, text, what="run configuration")


def dump_config(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=120)


def write_config(run_dir: str, config: dict) -> None:
    atomic_write(os.path.join(run_dir, CONFIG), "# resolved configuration of this run (inception-keras)\n"
                 + dump_config(config))


def same_config(a: dict, b: dict) -> bool:
    """Equal after a YAML round trip (tuples become lists, ints stay ints)."""
    return yaml.safe_load(dump_config(a)) == yaml.safe_load(dump_config(b))


def differing_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b), key=str):
        va, vb = a.get(key), b.get(key)
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += differing_keys(va, vb, path)
        elif va != vb:
            out.append(path)
    return out


def metrics_csv(history: list[dict]) -> str:
    extra = []
    for row in history:
        extra += [k for k in row if k not in COLUMNS and k not in extra]
    columns = COLUMNS + extra
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: _fmt(row.get(k)) for k in columns})
    return buf.getvalue()


def _fmt(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def write_metrics(run_dir: str, history: list[dict]) -> None:
    atomic_write(os.path.join(run_dir, METRICS), metrics_csv(history))


def read_checkpoint(run_dir: str) -> dict | None:
    """The last committed epoch: {"epoch": n, "weights": file, "history": [rows]}, or None."""
    ckpt = read_json(os.path.join(run_dir, BACKUP, CHECKPOINT))
    if ckpt and not os.path.exists(os.path.join(run_dir, BACKUP, ckpt["weights"])):
        raise ConfigError(f"{run_dir}/{BACKUP}: {CHECKPOINT} names {ckpt['weights']}, which is missing")
    return ckpt


def is_finished(run_dir: str) -> bool:
    state = read_state(run_dir)
    return bool(state) and state.get("status") == "finished"


def find_resumable(root: str, prefix: str, config: dict) -> str | None:
    """The newest unfinished run under `root` named `prefix-*` with exactly this configuration."""
    candidates = sorted(glob.glob(os.path.join(root, f"{glob.escape(prefix)}-*")), reverse=True)
    for run_dir in candidates:
        try:
            cfg = read_config(run_dir)
            if cfg is None or is_finished(run_dir):
                continue
        except ConfigError:
            continue
        from .spec import resolved_config

        if same_config(resolved_config(cfg), config):
            return run_dir
    return None


def new_run_dir(root: str, prefix: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(root, f"{prefix}-{stamp}")
    n = 2
    while os.path.exists(path):
        path = os.path.join(root, f"{prefix}-{stamp}-{n}")
        n += 1
    return path


def check_writable(run_dir: str) -> None:
    """Fail before any training when the run directory cannot be written."""
    try:
        os.makedirs(os.path.join(run_dir, BACKUP), exist_ok=True)
        probe = os.path.join(run_dir, f".write-test-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise ConfigError(f"run directory {run_dir} is not writable: {e.strerror or e}") from None


class RunLock:
    """An exclusive lock on a run directory for as long as a process trains in it (released on any death)."""

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, ".lock")
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        for attempt in range(20):  # `is_locked` (compare) holds a shared lock for an instant
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                time.sleep(0.05)
        else:
            os.close(self.fd)
            self.fd = None
            raise ConfigError(f"{os.path.dirname(self.path)}: another process is training in this run directory")
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def is_locked(run_dir: str) -> bool:
    """True while some process holds the run's lock (it is training now)."""
    path = os.path.join(run_dir, ".lock")
    if not os.path.exists(path):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)

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

import contextlib
import csv
import fcntl
import glob
import io
import json
import os
import re
import socket
import time
from dataclasses import dataclass, field

import yaml

from inception_keras.errors import ConfigError
from inception_keras.lang.reader import Document, load_document, read_text

CONFIG = "config.yaml"
ENV = "env.json"
METRICS = "metrics.csv"
STATE = "state.json"
MODEL = "model.keras"
BACKUP = "backup"
CHECKPOINT = "checkpoint.json"
MAX_JSON = 64 << 20
COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_seconds",
           "images_per_second"]


def atomic_write(path: str, text: str) -> None:
    """Write a file whole or not at all: a temporary file, synced, then renamed over `path`. On a failure
    (a full disk) the temporary file is removed and `path` is as it was."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
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
        value = json.loads(read_text(path, what=os.path.basename(path), limit=MAX_JSON))
    except ConfigError as e:
        raise ConfigError(f"{path}: cannot read: {e.problems[0].message if e.problems else e}") from None
    except (ValueError, RecursionError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    if mapping and not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a JSON object, found {type(value).__name__} {_short_json(value)}")
    return value


def _short_json(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
    doc = load_document(path, text, what="run configuration")
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys arch and recipe, found a "
                          f"{type(doc.data).__name__}")
    return doc


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
    """The last committed epoch: {"epoch": n, "weights": file, "history": [rows]}, or None when there is no
    checkpoint.json. A checkpoint.json that is not such a record, or names weights that are missing, is an
    error naming it."""
    path = os.path.join(run_dir, BACKUP, CHECKPOINT)
    ckpt = read_json(path, mapping=False)
    if ckpt is None and not os.path.lexists(path):
        return None
    problem = checkpoint_problem(ckpt)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    if not os.path.exists(os.path.join(run_dir, BACKUP, ckpt["weights"])):
        raise ConfigError(f"{run_dir}/{BACKUP}: {CHECKPOINT} names {ckpt['weights']}, which is missing")
    return ckpt


def checkpoint_problem(ckpt) -> str | None:
    """Why a checkpoint.json's content is not a commit record, or None."""
    if not isinstance(ckpt, dict):
        return f"not a commit record (a JSON object with epoch, weights and history), found {_short_json(ckpt)}"
    missing = [k for k in ("epoch", "weights", "history") if k not in ckpt]
    if missing:
        return f"not a commit record: missing {', '.join(missing)}"
    epoch, weights, history = ckpt["epoch"], ckpt["weights"], ckpt["history"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        return f"not a commit record: epoch is {_short_json(epoch)}"
    if not isinstance(weights, str) or os.path.basename(weights) != weights or not weights.endswith(".weights.h5"):
        return f"not a commit record: weights is {_short_json(weights)}"
    if not isinstance(history, list) or len(history) < epoch or not all(isinstance(r, dict) for r in history):
        return f"not a commit record: history does not hold {epoch} epoch rows"
    return None


WEIGHTS_RE = re.compile(r"^epoch-(\d{4,})\.weights\.h5$")


@dataclass
class Evidence:
    """What a run directory holds, read from every file that could say it: the decision to resume, extend,
    refuse or start rests on all of it, never on one file."""

    run_dir: str
    config: dict | None = None
    state: dict | None = None
    checkpoint: dict | None = None
    checkpoint_error: str | None = None  # why backup/checkpoint.json cannot be used
    metric_rows: int = 0
    weights: list = field(default_factory=list)  # backup/epoch-NNNN.weights.h5, oldest first
    model: bool = False  # model.keras

    @property
    def finished(self) -> bool:
        """state.json says so; or, when state.json is lost, model.keras (written only when a run finishes)."""
        if self.state is not None:
            return self.state.get("status") == "finished"
        return self.model

    @property
    def history(self) -> list[str]:
        """What says epochs were done here, as phrases for a message (empty: nothing)."""
        out = []
        if self.metric_rows:
            out.append(f"{METRICS} with {self.metric_rows} epoch row(s)")
        if self.weights:
            out.append(", ".join(f"{BACKUP}/{w}" for w in self.weights))
        done = (self.state or {}).get("epochs_done")
        if isinstance(done, int) and done > 0:
            out.append(f"{STATE} saying {done} epoch(s) done")
        if self.model:
            out.append(MODEL)
        return out


def inspect(run_dir: str) -> Evidence:
    """Read what `run_dir` holds (config, state, the commit, the CSV's rows, weight files, the model)."""
    ev = Evidence(run_dir)
    if not os.path.isdir(run_dir):
        return ev
    ev.config = read_config(run_dir)
    ev.state = read_state(run_dir)
    try:
        ev.checkpoint = read_checkpoint(run_dir)
    except ConfigError as e:
        ev.checkpoint_error = str(e)
    ev.metric_rows = _count_rows(os.path.join(run_dir, METRICS))
    backup = os.path.join(run_dir, BACKUP)
    if os.path.isdir(backup):
        ev.weights = sorted((f for f in os.listdir(backup) if WEIGHTS_RE.match(f)),
                            key=lambda f: int(WEIGHTS_RE.match(f).group(1)))
    ev.model = os.path.exists(os.path.join(run_dir, MODEL))
    return ev


def _count_rows(path: str) -> int:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return max(0, sum(1 for line in f if line.strip()) - 1)
    except OSError:
        return 0


def require_commit(ev: Evidence) -> None:
    """Refuse to restart a run directory from scratch when it holds evidence of earlier epochs but no usable
    commit record: nothing is changed, and the message says what is there and how to go on."""
    if ev.checkpoint is not None or not ev.history:
        return
    why = ev.checkpoint_error or f"{ev.run_dir}/{BACKUP}/{CHECKPOINT} is missing"
    raise ConfigError(f"{why}; but {ev.run_dir} holds {'; '.join(ev.history)}. Nothing was changed. To continue "
                      f"from the newest intact weights: inception-keras train --resume {ev.run_dir} --recover; "
                      f"to start over, train into a new --run-dir.")


def recover(run_dir: str) -> dict:
    """Write a new commit record from the newest weights file that opens and the CSV's rows up to its epoch
    (`train --resume DIR --recover`); the old checkpoint.json, if any, is kept as checkpoint.json.broken."""
    import h5py

    ev = inspect(run_dir)
    rows = read_metric_rows(os.path.join(run_dir, METRICS))
    for name in reversed(ev.weights):
        epoch = int(WEIGHTS_RE.match(name).group(1))
        try:
            with h5py.File(os.path.join(run_dir, BACKUP, name), "r"):
                pass
        except OSError:
            continue  # truncated or not HDF5: try the one before
        history = [r for r in rows if r.get("epoch") is not None and r["epoch"] <= epoch]
        if [r["epoch"] for r in history] != list(range(1, epoch + 1)):
            continue  # the CSV does not hold every epoch up to this one
        path = os.path.join(run_dir, BACKUP, CHECKPOINT)
        if os.path.exists(path):
            os.replace(path, path + ".broken")
        ckpt = {"epoch": epoch, "weights": name, "history": history, "recovered": True}
        write_json(path, ckpt)
        return ckpt
    raise ConfigError(f"{run_dir}: no weights file in {BACKUP}/ opens and has every epoch up to it in {METRICS}; "
                      f"nothing to continue from (start a new run)")


def read_metric_rows(path: str) -> list[dict]:
    """metrics.csv as the trainer's rows (numbers as floats, `epoch` as int), last row of an epoch kept."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            raw = list(csv.DictReader(f))
    except OSError:
        return []
    by_epoch: dict = {}
    for row in raw:
        try:
            epoch = int(row.get("epoch") or "")
        except ValueError:
            continue
        by_epoch[epoch] = {k: _number(v) for k, v in row.items() if k}
        by_epoch[epoch]["epoch"] = epoch
    return [by_epoch[e] for e in sorted(by_epoch)]


def _number(text):
    if text in (None, ""):
        return None
    try:
        return float(text)
    except ValueError:
        return text


def is_finished(run_dir: str) -> bool:
    return inspect(run_dir).finished


def _same_runs(root: str, prefix: str, config: dict) -> list[tuple[str, Evidence]]:
    """Run directories under `root` named `prefix-*` with exactly this configuration, newest first; those that
    cannot be read are passed over."""
    from inception_keras.runs.config import resolved_config

    out = []
    for run_dir in sorted(glob.glob(os.path.join(root, f"{glob.escape(prefix)}-*")), reverse=True):
        try:
            ev = inspect(run_dir)
        except ConfigError:
            continue
        if ev.config is not None and same_config(resolved_config(ev.config), config):
            out.append((run_dir, ev))
    return out


def find_resumable(root: str, prefix: str, config: dict) -> str | None:
    """The newest unfinished run under `root` named `prefix-*` with exactly this configuration."""
    return next((d for d, ev in _same_runs(root, prefix, config) if not ev.finished), None)


def find_finished(root: str, prefix: str, config: dict) -> str | None:
    """The newest finished run under `root` named `prefix-*` with exactly this configuration."""
    return next((d for d, ev in _same_runs(root, prefix, config) if ev.finished), None)


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
    probe = os.path.join(run_dir, f".write-test-{os.getpid()}")
    try:
        os.makedirs(os.path.join(run_dir, BACKUP), exist_ok=True)
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.remove(probe)
        raise ConfigError(f"run directory {run_dir} is not writable: {e.strerror or e}") from None


def save_model(model, run_dir: str) -> str:
    """model.keras, whole or not at all: saved under a temporary name, then renamed."""
    path = os.path.join(run_dir, MODEL)
    tmp = os.path.join(run_dir, f".model.tmp-{os.getpid()}.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return path


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


def remove_unstarted(run_dir: str) -> None:
    """A run directory this process created and that never committed an epoch goes again (a failed start
    leaves no skeleton); anything that holds an epoch is kept."""
    with contextlib.suppress(ConfigError, OSError):
        ev = inspect(run_dir)
        if ev.checkpoint is not None or ev.history:
            return
        remove_temporaries(run_dir)
        for name in (CONFIG, ENV, STATE, METRICS, ".lock"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(run_dir, name))
        for where in (os.path.join(run_dir, BACKUP), run_dir):
            with contextlib.suppress(OSError):
                os.rmdir(where)  # only when empty


def remove_lock(run_dir: str) -> None:
    """A finished run keeps no lock file (it is only there while a process trains)."""
    with contextlib.suppress(OSError):
        os.remove(os.path.join(run_dir, ".lock"))


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

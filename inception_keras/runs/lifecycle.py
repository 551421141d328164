"""A run directory's life: where a run starts, what it holds, and what it resumes from.

The commit point of an epoch is `backup/checkpoint.json`, replaced atomically after the epoch's weights are on
disk; it carries the metric rows of every epoch done, and metrics.csv is rewritten from it. A run killed at any
moment therefore resumes from its last committed epoch with each epoch in the CSV exactly once. Whether to
resume, extend, refuse or start rests on everything the directory holds (`inspect`), never on one file.
"""
from __future__ import annotations

import contextlib
import glob
import os
import re
import time
from dataclasses import dataclass, field

from inception_keras.errors import ConfigError
from inception_keras.runs.config import read_config, resolved_config, same_config
from inception_keras.runs.files import (
    BACKUP,
    CHECKPOINT,
    CONFIG,
    ENV,
    LOCK,
    METRICS,
    MODEL,
    STATE,
    read_json,
    remove_temporaries,
    short_json,
    write_json,
)
from inception_keras.runs.metrics import metric_lines, read_metric_rows
from inception_keras.runs.state import read_state

WEIGHTS_RE = re.compile(r"^epoch-(\d{4,})\.weights\.h5$")


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
        return f"not a commit record (a JSON object with epoch, weights and history), found {short_json(ckpt)}"
    missing = [k for k in ("epoch", "weights", "history") if k not in ckpt]
    if missing:
        return f"not a commit record: missing {', '.join(missing)}"
    epoch, weights, history = ckpt["epoch"], ckpt["weights"], ckpt["history"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        return f"not a commit record: epoch is {short_json(epoch)}"
    if not isinstance(weights, str) or os.path.basename(weights) != weights or not weights.endswith(".weights.h5"):
        return f"not a commit record: weights is {short_json(weights)}"
    if not isinstance(history, list) or len(history) < epoch or not all(isinstance(r, dict) for r in history):
        return f"not a commit record: history does not hold {epoch} epoch rows"
    return None


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
    ev.metric_rows = metric_lines(os.path.join(run_dir, METRICS))
    backup = os.path.join(run_dir, BACKUP)
    if os.path.isdir(backup):
        ev.weights = sorted((f for f in os.listdir(backup) if WEIGHTS_RE.match(f)),
                            key=lambda f: int(WEIGHTS_RE.match(f).group(1)))
    ev.model = os.path.exists(os.path.join(run_dir, MODEL))
    return ev


def is_finished(run_dir: str) -> bool:
    """The run in `run_dir` finished (see `Evidence.finished`)."""
    return inspect(run_dir).finished


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


def _same_runs(root: str, prefix: str, config: dict) -> list[tuple[str, Evidence]]:
    """Run directories under `root` named `prefix-*` with exactly this configuration, newest first; those that
    cannot be read are passed over."""
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
    """`root/prefix-YYYYmmdd-HHMMSS`, with `-2`, `-3`... when that exists already."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(root, f"{prefix}-{stamp}")
    n = 2
    while os.path.exists(path):
        path = os.path.join(root, f"{prefix}-{stamp}-{n}")
        n += 1
    return path


def remove_unstarted(run_dir: str) -> None:
    """A run directory this process created and that never committed an epoch goes again (a failed start
    leaves no skeleton); anything that holds an epoch is kept."""
    with contextlib.suppress(ConfigError, OSError):
        ev = inspect(run_dir)
        if ev.checkpoint is not None or ev.history:
            return
        remove_temporaries(run_dir)
        for name in (CONFIG, ENV, STATE, METRICS, LOCK):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(run_dir, name))
        for where in (os.path.join(run_dir, BACKUP), run_dir):
            with contextlib.suppress(OSError):
                os.rmdir(where)  # only when empty

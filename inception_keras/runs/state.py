"""state.json and the lock: what a run says it is doing, and whether a process is training in it now.

state.json records the status (running, finished, failed, interrupted) and the epochs done and planned. A
process that trains holds an exclusive lock on `.lock` (released on any death), so a run that state.json
calls running while nobody holds the lock was stopped without recording it: `run_status` is the one place
that decides this.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable

from inception_keras import safeio
from inception_keras.errors import ConfigError
from inception_keras.runs.files import LOCK, STATE, atomic_write, read_json


def read_state(run_dir: str) -> dict | None:
    """state.json as a mapping, or None when there is none (an unreadable one is a ConfigError naming it)."""
    return read_json(os.path.join(run_dir, STATE))


def write_state(run_dir: str, **fields) -> dict:
    """Update state.json with `fields` (and the time), atomically; return the new state."""
    state = read_state(run_dir) or {}
    state.update(fields, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    atomic_write(os.path.join(run_dir, STATE), json.dumps(state, indent=2) + "\n")
    return state


class RunLock:
    """An exclusive lock on a run directory for as long as a process trains in it (released on any death)."""

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, LOCK)
        self.fd = None

    def __enter__(self):
        self.fd = safeio.create_lock(self.path)  # never a link, a FIFO or a folder planted as .lock
        for _ in range(20):  # `is_locked` (compare, sweep) holds a shared lock for an instant
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
    path = os.path.join(run_dir, LOCK)
    if not os.path.exists(path):
        return False
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def remove_lock(run_dir: str) -> None:
    """A finished run keeps no lock file (it is only there while a process trains)."""
    with contextlib.suppress(OSError):
        os.remove(os.path.join(run_dir, LOCK))


def run_status(run_dir: str, state: dict | None, warn: Callable[[str, str], None] | None = None):
    """What the run in `run_dir` is doing now, from its state.json (`state`) and its lock.

    "finished" as recorded; "running" while a process holds the lock, whatever state.json says (a resumed run
    holds the lock before it records that it runs); "interrupted" when state.json says running but no process
    holds the lock (the training stopped without recording it); otherwise the recorded status, None when
    there is none. `warn(file, message)` hears of a lock that cannot be checked (the recorded status is kept)
    and of a running run found interrupted; without `warn`, an OSError from the lock is raised.
    """
    status = (state or {}).get("status")
    if status == "finished":
        return status
    try:
        locked = is_locked(run_dir)
    except OSError as e:
        if warn is None:
            raise
        warn(os.path.join(run_dir, LOCK), f"cannot check the lock: {e.strerror or e}")
        return status
    if locked:
        return "running"
    if status == "running":
        if warn is not None:
            warn(os.path.join(run_dir, STATE), "says running, but no process holds the run's lock: the training "
                                               "stopped without recording it; shown as interrupted")
        return "interrupted"
    return status

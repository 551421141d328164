"""The study journal (Optuna's journal storage, one JSON object per line) checked before Optuna replays it.

Optuna reads `study.journal` with open() and json.loads and replays each operation: a non-UTF-8 byte, a line cut
short, a JSON value that is not an operation, a FIFO or a folder in its place each end in a traceback (or a hang)
deep inside it. `check_journal` reads the file through the bounded reader (safeio: a regular file of at most
`safeio.LIMITS["journal"]` bytes) and checks every complete line: UTF-8, a JSON object, an integer `op_code` that
Optuna knows. It reads under Optuna's own journal lock (`study.journal.lock`, which every append holds), so a
last line without its newline is not another worker's write in progress but one that never finished (a worker
killed mid-write): Optuna would skip it until the next append and then fail on it for good, so it is refused.
"""
from __future__ import annotations

import json
import os

from inception_keras import safeio
from inception_keras.errors import ConfigError

OP_CODES = range(0, 11)  # optuna.storages.journal._storage.JournalOperation: CREATE_STUDY (0) .. DISCARD_TRIALS (10)


def line_problem(line: bytes) -> str | None:
    """What is wrong with one complete journal line, or None."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not UTF-8 text ({e.reason} at byte {e.start})"
    try:
        entry = json.loads(text)
    except (ValueError, RecursionError) as e:
        return f"not a JSON object ({str(e).splitlines()[0][:80]})"
    if not isinstance(entry, dict):
        return f"a JSON {type(entry).__name__}, not an object"
    code = entry.get("op_code")
    if type(code) is not int or code not in OP_CODES:
        return f"op_code {safeio.printable(repr(code))[:40]} is not an operation Optuna's journal knows"
    return None


def check_journal(path: str) -> None:
    """A ConfigError naming `path` and the line when the journal is not what Optuna wrote (nothing when it is
    missing: Optuna creates it)."""
    if not os.path.lexists(path):
        return
    import optuna

    lock = optuna.storages.journal.JournalFileOpenLock(path)
    lock.acquire()
    try:
        data = safeio.read_bytes(path, "study journal", safeio.LIMITS["journal"])
    finally:
        lock.release()
    lines = data.split(b"\n")
    for number, line in enumerate(lines, 1):
        if number == len(lines):
            problem = f"cut short ({len(line):,} bytes without a newline: a write that never finished)" if line else ""
        else:
            problem = line_problem(line.rstrip(b"\r"))
        if problem:
            raise ConfigError(f"{safeio.shown(path)}: line {number}: {problem}: the study journal is damaged "
                              "(Optuna cannot replay it); restore it or start a new --search-dir")


def optuna_error(path: str, e: Exception) -> ConfigError:
    """Optuna's (or its replay's) exception as one line naming the journal."""
    text = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    return ConfigError(f"{safeio.shown(path)}: Optuna cannot use this study journal ({type(e).__name__}: "
                       f"{safeio.printable(text)}); restore it or start a new --search-dir")

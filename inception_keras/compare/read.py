"""Reading the runs to compare: run directories, globs of them or bare CSV files, as `Run`s.

Everything is read from the files a run leaves behind (inception_keras.runs): metrics.csv for the numbers (the
one tolerant reader, `runs.read_metrics`), config.yaml for the configuration, state.json for the status and the
parameter count. Real run directories are messy, so every problem becomes a warning naming the file and the run
is still read whenever it has at least one readable epoch.
"""
from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from inception_keras import runs, safeio
from inception_keras.errors import ConfigError

_GLOB = set("*?[")

Warn = Callable[[str, str], None]


class CompareWarning(UserWarning):
    """A run directory or file that could only be read in part (or not at all)."""


@dataclass
class Run:
    """One run as read from disk."""

    name: str
    path: str  # the run directory, or the CSV file for a bare CSV not named metrics.csv
    csv_path: str
    history: object  # pandas.DataFrame, one row per epoch (sorted, unique), columns as in the CSV (floats)
    config: dict | None = None
    state: dict | None = None
    status: str = "unknown"
    columns: list = field(default_factory=list)


def warn_default(file: str, message: str) -> None:
    """A problem with a run as a `CompareWarning` ('<file>: <message>')."""
    warnings.warn(CompareWarning(f"{file}: {message}"), stacklevel=3)


def expand(paths: list[str], warn: Warn) -> list[str]:
    """Globs expanded (sorted), a search directory (`inception-keras search`, with its study.journal) expanded to
    its trials' run directories (each trial a seed group), literal paths kept; a glob that matches nothing is a
    warning."""
    out = []
    for p in paths:
        if os.path.isfile(os.path.join(p, runs.STUDY)):  # a search directory: its trials' runs (trial-*/seed=*)
            found = sorted(os.path.dirname(c) for c in
                           glob.glob(os.path.join(glob.escape(p), "*", "*", runs.METRICS)))
            if not found:
                warn(p, "a search directory without trained runs yet")
            out += found
        elif not os.path.exists(p) and _GLOB & set(p):
            matches = sorted(glob.glob(p))
            if not matches:
                warn(p, "matches nothing")
            out += matches
        else:
            out.append(p)
    return out


def planned(run: Run) -> int | None:
    """The epochs the run was to train: state.json's, else its recipe's (None when neither says)."""
    for source in (run.state or {}, (run.config or {}).get("recipe") or {}):
        value = source.get("epochs") if isinstance(source, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _read_history(csv_path: str, warn: Warn):
    """metrics.csv through the one reader, and a warning for the usual columns it lacks (None: unreadable)."""
    frame = runs.read_metrics(csv_path, warn)
    if frame is None:
        return None
    missing = [c for c in runs.COLUMNS if c not in frame.columns]
    if missing:
        warn(csv_path, f"no column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (an older run?); "
                       "shown as empty")
    return frame


def _side_files(run_dir: str, warn: Warn) -> tuple[dict | None, dict | None]:
    """config.yaml and state.json beside a metrics.csv (None, with a warning, where unreadable; the readers refuse
    files that are not mappings)."""
    return (_side_file(run_dir, runs.CONFIG, runs.read_config, warn, "its configuration is not compared"),
            _side_file(run_dir, runs.STATE, runs.read_state, warn, "status unknown"))


def _side_file(run_dir: str, name: str, read, warn: Warn, consequence: str) -> dict | None:
    try:
        return read(run_dir)
    except ConfigError as e:
        warn(os.path.join(run_dir, name), f"{_short(e, name)}; {consequence}")
        return None


def _short(error: Exception, name: str) -> str:
    """runs.read_* say '<path>: cannot read: ...'; the warning names the file already."""
    text = str(error)
    i = text.find(f"{name}: ")
    return text[i + len(name) + 2:] if i >= 0 else text


def _status(run_dir: str, state: dict | None, warn: Warn) -> str:
    """The run's status now (runs.run_status), "unknown" without a state.json."""
    if not state:
        return "unknown"
    return str(runs.run_status(run_dir, state, warn) or "unknown")


def _run_name(path: str) -> str:
    """The run's name as shown: a folder name that is not UTF-8 escaped (\\udcNN), never a crash downstream."""
    return safeio.shown(os.path.basename(os.path.normpath(os.path.abspath(path))))


def _locate(p: str, warn: Warn) -> tuple[str, str, bool, str] | None:
    """(run directory, CSV path, whether config.yaml and state.json are read beside it, run name) of a path,
    or None with a warning when it names no run."""
    if os.path.isdir(p):
        csv_path = os.path.join(p, runs.METRICS)
        if not os.path.isfile(csv_path):
            if any(os.path.exists(os.path.join(p, f)) for f in (runs.CONFIG, runs.STATE)):
                warn(p, f"no {runs.METRICS} (no epoch finished yet?); skipped")
            else:
                inner = sorted(glob.glob(os.path.join(glob.escape(p), "*", runs.METRICS)))
                hint = (f"; it holds {len(inner)} run director{'ies' if len(inner) > 1 else 'y'}: pass "
                        f"{os.path.join(p, '*')}") if inner else ""
                warn(p, f"not a run directory (no {runs.METRICS}){hint}; skipped")
            return None
        return p, csv_path, True, _run_name(p)
    if os.path.isfile(p):
        beside = os.path.basename(p) == runs.METRICS
        if not beside and not p.endswith(".csv"):
            warn(p, f"not a run directory or a {runs.METRICS} file; skipped")
            return None
        run_dir = os.path.dirname(p) or "."
        return run_dir, p, beside, _run_name(run_dir) if beside else safeio.shown(os.path.splitext(
            os.path.basename(p))[0])
    warn(p, "no such file or directory")
    return None


def _read_run(run_dir: str, csv_path: str, beside: bool, name: str, warn: Warn) -> Run | None:
    """One run: its metrics, and (beside a metrics.csv) its configuration and status; None when unreadable."""
    history = _read_history(csv_path, warn)
    if history is None:
        return None
    config, state = _side_files(run_dir, warn) if beside else (None, None)
    if not beside:
        warn(csv_path, f"not named {runs.METRICS}, so no {runs.CONFIG} or {runs.STATE} is read for it; its "
                       "configuration is not compared")
    elif config is None and not os.path.exists(os.path.join(run_dir, runs.CONFIG)):
        warn(csv_path, f"no {runs.CONFIG} beside it; its configuration is not compared")
    status = _status(run_dir, state, warn) if beside else "unknown"
    run = Run(name=name, path=run_dir if beside else csv_path, csv_path=csv_path, history=history,
              config=config, state=state, status=status, columns=list(history.columns))
    if status in ("interrupted", "failed"):
        epochs = planned(run)
        done = int(history["epoch"].max())
        extra = f": {state.get('error')}" if status == "failed" and state and state.get("error") else ""
        warn(os.path.join(run_dir, runs.STATE), f"the run {status} after epoch {done}"
                                                f"{f' of {epochs}' if epochs is not None else ''}{extra}")
    return run


def load_runs(paths: list[str], on_warning: Warn | None = None) -> list[Run]:
    """Read every run the paths name; what cannot be read is a warning (on_warning(file, message))."""
    warn = on_warning or warn_default
    out: list[Run] = []
    seen: set[str] = set()
    for p in expand(list(paths), warn):
        located = _locate(p, warn)
        if located is None:
            continue
        key = os.path.realpath(located[1])
        if key in seen:
            continue
        seen.add(key)
        run = _read_run(*located, warn)
        if run is not None:
            out.append(run)
    names = [r.name for r in out]
    for r in out:  # the same base name twice (runs/a, old/a): name them by the path given
        if names.count(r.name) > 1:
            r.name = safeio.shown(os.path.normpath(r.path))
    return out

"""`inception-keras compare`: one table (and optionally one plot) of several runs, read from their run directories.

A RUN is a run directory, a glob of them (`runs/*`) or a bare `metrics.csv`. Everything is read from the
files a run leaves behind (see runs.py): metrics.csv for the numbers, config.yaml for the configuration
keys that differ between the runs, state.json for the status and the parameter count.

One run is one draw. By default runs whose resolved configurations differ only in `recipe.seed` are one
group, one row: n, and the mean ± standard deviation and min..max of the metric at the last epoch all of
them reached and at the epoch of the best mean (`group_table`); `--by-run` gives one row per run (`table`).

Real run directories are messy, so every problem becomes a warning naming the file and the run is still
shown whenever it has at least one readable epoch: a cut-off last line is ignored, a resumed run's
repeated epochs keep their last row, a column an older run lacks is empty, a cell that is not a number is
empty. Only when no run at all can be read is that an error (ConfigError, exit 2).
"""
from __future__ import annotations

import csv
import glob
import io
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Callable

from inception_keras.runs import store as R
from inception_keras.errors import ConfigError
from inception_keras.runs.config import resolved_config

#: The columns of the table, before the configuration keys that differ (`best_<metric>` is named after the metric).
SUMMARY_COLUMNS = ["run", "arch", "epochs_done", "epochs_planned", "best", "best_epoch", "val_loss", "val_accuracy",
                   "accuracy", "epoch_seconds", "images_per_second", "params", "status"]
#: The columns of the groups' table (group_table), besides the statistics of the metric.
GROUP_COLUMNS = ["group", "runs", "paths", "n", "seeds", "arch", "epochs_done", "epochs_planned", "best_epoch",
                 "epoch_seconds", "images_per_second", "params", "status"]
FINAL = ["val_loss", "val_accuracy", "accuracy"]  # the last epoch's value
MEAN = ["epoch_seconds", "images_per_second"]  # the mean over the epochs
_GLOB = set("*?[")
_TRUNCATE = 40  # characters of a configuration value in the aligned text table

Warn = Callable[[str, str], None]


class CompareWarning(UserWarning):
    """A run directory or file that could only be read in part (or not at all)."""


@dataclass
class Run:
    """One run as read from disk."""

    name: str
    path: str  # the run directory, or the CSV file for a bare CSV not named metrics.csv
    csv_path: str
    history: "object"  # pandas.DataFrame, one row per epoch (sorted, unique), columns as in the CSV (floats)
    config: dict | None = None
    state: dict | None = None
    status: str = "unknown"
    columns: list = field(default_factory=list)


# ----------------------------------------------------------------------------- reading


def lower_is_better(metric: str) -> bool:
    """Losses and durations (`epoch_seconds`) are better low; accuracies, images/s and the rest high."""
    return "loss" in metric or metric.endswith("seconds")


def _warn_default(file: str, message: str) -> None:
    warnings.warn(CompareWarning(f"{file}: {message}"), stacklevel=3)


def expand(paths: list[str], warn: Warn) -> list[str]:
    """Globs expanded (sorted), literal paths kept; a glob that matches nothing is a warning."""
    out = []
    for p in paths:
        if not os.path.exists(p) and _GLOB & set(p):
            matches = sorted(glob.glob(p))
            if not matches:
                warn(p, "matches nothing")
            out += matches
        else:
            out.append(p)
    return out


def _read_csv(path: str, warn: Warn):
    """metrics.csv -> (DataFrame of floats with an int `epoch` column, columns) or None with a warning.

    pandas reads the cells (`read_csv`, as text), converts them (`to_numeric`) and keeps the last row of a
    repeated epoch (`drop_duplicates`); what it would pass over silently (a cut-off line, extra fields, a
    cell that is not a number) becomes a warning naming the line.
    """
    import pandas as pd

    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except UnicodeDecodeError:
        warn(path, "not a text file (not UTF-8); skipped")
        return None
    except OSError as e:
        warn(path, f"cannot read: {e.strerror or e}; skipped")
        return None
    if not text.strip():
        warn(path, "empty file; skipped")
        return None
    lines = text.splitlines()
    try:
        header = [h.strip() for h in next(csv.reader(lines[:1]))]
        widths = {i: len(row) for i, row in enumerate(csv.reader(lines), start=1) if i > 1 and "".join(row).strip()}
    except csv.Error as e:
        warn(path, f"not a CSV file ({e}); skipped")
        return None
    if "epoch" not in header:
        warn(path, "not a metrics CSV (no 'epoch' column in the first line); skipped")
        return None
    for name in [h for i, h in enumerate(header) if h and h in header[:i]]:
        warn(path, f"column '{name}' appears twice; the first is used")
    n = len(header)
    for lineno, width in widths.items():
        if width < n:
            cut = lineno == len(lines) and not text.endswith(("\n", "\r"))
            warn(path, f"line {lineno} has {width} of {n} fields{' (the file is cut off)' if cut else ''}; the line "
                       "is ignored")
        elif width > n:
            warn(path, f"line {lineno} has {width} fields, the header {n}; the extra ones are ignored")
    cells = pd.read_csv(io.StringIO(text), header=None, skiprows=1, names=range(n), dtype=str,
                        keep_default_na=False, engine="python", on_bad_lines=lambda fields: fields[:n])
    cells.index = [lineno for lineno in widths]  # one row per line with a value, in order
    cells = cells.loc[[lineno for lineno, width in widths.items() if width >= n]]
    keep = [i for i, name in enumerate(header) if name and name not in header[:i]]
    cells = cells[keep].set_axis([header[i] for i in keep], axis=1).apply(lambda c: c.str.strip())
    numbers = cells.apply(pd.to_numeric, errors="coerce")
    bad = [f"{col}='{cells.at[line, col]}' (line {line})" for line in cells.index for col in cells.columns
           if col != "epoch" and pd.isna(numbers.at[line, col]) and cells.at[line, col] != ""]
    epochs = numbers["epoch"]
    valid = epochs.notna() & (epochs >= 0) & (epochs == epochs.round())
    for line in epochs.index[~valid]:
        warn(path, f"line {line}: epoch '{cells.at[line, 'epoch']}' is not an epoch number; the line is ignored")
    numbers = numbers[valid]
    if bad:
        warn(path, f"not a number, read as empty: {', '.join(bad)}")
    repeated = sorted(set(numbers["epoch"][numbers["epoch"].duplicated()].astype(int)))
    if repeated:
        warn(path, f"epoch{'s' if len(repeated) > 1 else ''} {', '.join(map(str, repeated))} repeated (a resumed "
                   "run?); the last row of each is kept")
    frame = numbers.drop_duplicates("epoch", keep="last").sort_values("epoch", kind="stable")
    if frame.empty:
        warn(path, "no epochs recorded; skipped")
        return None
    frame = frame.astype("float64").reset_index(drop=True)
    frame["epoch"] = frame["epoch"].astype(int)
    columns = list(frame.columns)
    missing = [c for c in R.COLUMNS if c not in columns]
    if missing:
        warn(path, f"no column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (an older run?); "
                   "shown as empty")
    return frame, columns


def _status(run_dir: str, state: dict | None, warn: Warn) -> str:
    if not state:
        return "unknown"
    status = str(state.get("status") or "unknown")
    if status == "running":
        try:
            locked = R.is_locked(run_dir)
        except OSError as e:
            warn(os.path.join(run_dir, ".lock"), f"cannot check the lock: {e.strerror or e}")
            return status
        if not locked:
            warn(os.path.join(run_dir, R.STATE), "says running, but no process holds the run's lock: the "
                                                 "training stopped without recording it; shown as interrupted")
            return "interrupted"
    return status


def _side_files(run_dir: str, warn: Warn) -> tuple[dict | None, dict | None]:
    config = state = None
    try:
        config = R.read_config(run_dir)
    except ConfigError as e:
        warn(os.path.join(run_dir, R.CONFIG), f"{_short(e, R.CONFIG)}; its configuration is not compared")
    if config is not None and not isinstance(config, dict):
        warn(os.path.join(run_dir, R.CONFIG), "is not a mapping; its configuration is not compared")
        config = None
    try:
        state = R.read_state(run_dir)
    except ConfigError as e:
        warn(os.path.join(run_dir, R.STATE), f"{_short(e, R.STATE)}; status unknown")
    if state is not None and not isinstance(state, dict):
        warn(os.path.join(run_dir, R.STATE), "is not a JSON object; status unknown")
        state = None
    return config, state


def _short(error: Exception, name: str) -> str:
    """runs.read_* say '<path>: cannot read: ...'; the warning names the file already."""
    text = str(error)
    i = text.find(f"{name}: ")
    return text[i + len(name) + 2:] if i >= 0 else text


def _run_name(path: str) -> str:
    return os.path.basename(os.path.normpath(os.path.abspath(path)))


def load_runs(paths: list[str], on_warning: Warn | None = None) -> list[Run]:
    """Read every run the paths name; what cannot be read is a warning (on_warning(file, message))."""
    warn = on_warning or _warn_default
    out: list[Run] = []
    seen: set[str] = set()
    for p in expand(list(paths), warn):
        if os.path.isdir(p):
            run_dir, csv_path, beside = p, os.path.join(p, R.METRICS), True
            if not os.path.isfile(csv_path):
                if any(os.path.exists(os.path.join(p, f)) for f in (R.CONFIG, R.STATE)):
                    warn(p, f"no {R.METRICS} (no epoch finished yet?); skipped")
                else:
                    inner = sorted(glob.glob(os.path.join(glob.escape(p), "*", R.METRICS)))
                    hint = (f"; it holds {len(inner)} run director{'ies' if len(inner) > 1 else 'y'}: pass "
                            f"{os.path.join(p, '*')}") if inner else ""
                    warn(p, f"not a run directory (no {R.METRICS}){hint}; skipped")
                continue
            name = _run_name(p)
        elif os.path.isfile(p):
            csv_path = p
            beside = os.path.basename(p) == R.METRICS
            if not beside and not p.endswith(".csv"):
                warn(p, f"not a run directory or a {R.METRICS} file; skipped")
                continue
            run_dir = os.path.dirname(p) or "."
            name = _run_name(run_dir) if beside else os.path.splitext(os.path.basename(p))[0]
        else:
            warn(p, "no such file or directory")
            continue
        key = os.path.realpath(csv_path)
        if key in seen:
            continue
        seen.add(key)
        read = _read_csv(csv_path, warn)
        if read is None:
            continue
        history, columns = read
        config, state = _side_files(run_dir, warn) if beside else (None, None)
        if not beside:
            warn(csv_path, f"not named {R.METRICS}, so no {R.CONFIG} or {R.STATE} is read for it; its "
                           "configuration is not compared")
        elif config is None and not os.path.exists(os.path.join(run_dir, R.CONFIG)):
            warn(csv_path, f"no {R.CONFIG} beside it; its configuration is not compared")
        status = _status(run_dir, state, warn) if beside else "unknown"
        run = Run(name=name, path=run_dir if beside else csv_path, csv_path=csv_path, history=history,
                  config=config, state=state, status=status, columns=columns)
        if status in ("interrupted", "failed"):
            planned = _planned(run)
            done = int(history["epoch"].max())
            extra = f": {state.get('error')}" if status == "failed" and state and state.get("error") else ""
            warn(os.path.join(run_dir, R.STATE), f"the run {status} after epoch {done}"
                                                 f"{f' of {planned}' if planned is not None else ''}{extra}")
        out.append(run)
    names = [r.name for r in out]
    for r in out:  # the same base name twice (runs/a, old/a): name them by the path given
        if names.count(r.name) > 1:
            r.name = os.path.normpath(r.path)
    return out


# ----------------------------------------------------------------------------- the table


def _planned(run: Run) -> int | None:
    for source in (run.state or {}, (run.config or {}).get("recipe") or {}):
        value = source.get("epochs") if isinstance(source, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def flatten(value, prefix: str = "") -> dict:
    """{'recipe': {'optimizer': {'learning_rate': 0.1}}} -> {'recipe.optimizer.learning_rate': 0.1}; lists of
    mappings (a stage's layers) by index, `arch.stages.b4[5].maxpool.size`; lists of plain values whole."""
    out = {}
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
        for i, inner in enumerate(value):
            out.update(flatten(inner, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (dict, list, tuple)) or isinstance(b, (dict, list, tuple)):
        return False
    return a == b


_MISSING = object()


def differing(configs: list[dict | None]) -> dict[str, list]:
    """The flattened keys of `arch` and `recipe` whose values are not equal in all the runs that have a
    configuration (a key missing in one counts as different), in order of first appearance; runs without a
    configuration get None. With fewer than two configurations, nothing differs."""
    flat = [None if c is None else flatten({k: v for k, v in resolved_config(c).items() if k in ("arch", "recipe")
                                            and isinstance(v, dict)})
            for c in configs]
    present = [f for f in flat if f is not None]
    if len(present) < 2:
        return {}
    keys: list[str] = []
    for f in present:
        keys += [k for k in f if k not in keys]
    out = {}
    for key in keys:
        values = [f.get(key, _MISSING) for f in present]
        if all(v is not _MISSING for v in values) and all(_same(values[0], v) for v in values[1:]):
            continue
        out[key] = [None if f is None else f.get(key, _MISSING) for f in flat]
    return _whole_layers(out, flat)


_LAYER_KEY = re.compile(r"^(arch\.(?:stages\.[^.\[]+|aux_heads\.[^.\[]+\.layers)\[\d+\])\.([^.]+)\.")


def _whole_layers(out: dict, flat: list) -> dict:
    """Where runs have different layers at a position (another kind, or none), one column names the layer
    kind of each run (`arch.stages.b5[2]`: avgpool / adaptive_avgpool) instead of a column per key."""
    groups: dict[str, list] = {}
    for key in out:
        m = _LAYER_KEY.match(key)
        if m:
            groups.setdefault(m.group(1), []).append(key)
    for prefix, keys in groups.items():
        kinds = [None if f is None else next((k[len(prefix) + 1:].split(".")[0] for k in f
                                              if k.startswith(prefix + ".")), _MISSING) for f in flat]
        present = [k for k in kinds if k is not None]
        if all(k is not _MISSING for k in present) and len(set(present)) == 1:
            continue  # the same kind everywhere: the keys that differ say what differs
        at = list(out).index(keys[0])
        rest = [(k, v) for k, v in out.items() if k not in keys]
        out = dict(rest[:at] + [(prefix, kinds)] + rest[at:])
    return out


def _config_column(values: list):
    """A differing key's values as a column: numeric when every value is a number, otherwise objects; a
    missing key is NaN, an explicit null None."""
    import pandas as pd

    real = [v for v in values if v is not _MISSING and v is not None]
    if real and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in real):
        if all(isinstance(v, int) for v in real) and len(real) == len(values):
            return pd.array(values, dtype="Int64")
        return pd.array([math.nan if v is _MISSING or v is None else float(v) for v in values], dtype="float64")
    return pd.Series([math.nan if v is _MISSING else v for v in values], dtype=object).array


def _check_metric(run_list: list[Run], metric: str) -> None:
    if not run_list:
        raise ConfigError("no run to compare")
    if not any(metric in r.columns for r in run_list):
        available = []
        for r in run_list:
            available += [c for c in r.columns if c not in available and c != "epoch"]
        raise ConfigError(f"--metric {metric}: no run records it; the runs record: {', '.join(available)}")


def table(run_list: list[Run], metric: str = "val_accuracy"):
    """The comparison as a DataFrame, one row per run, best first (see compare_runs)."""
    import pandas as pd

    _check_metric(run_list, metric)
    best_col = f"best_{metric}"
    rows = []
    for r in run_list:
        h = r.history
        row = {"run": r.name, "path": r.path}
        arch_cfg = (r.config or {}).get("arch")
        arch = arch_cfg.get("name") if isinstance(arch_cfg, dict) else None
        row["arch"] = arch or (r.state or {}).get("arch") or ""
        row["epochs_done"] = int(h["epoch"].max())
        row["epochs_planned"] = _planned(r)
        best = best_epoch = math.nan
        if metric in h and h[metric].notna().any():
            series = h[metric]
            i = series.idxmin() if lower_is_better(metric) else series.idxmax()  # the first of equal values
            best, best_epoch = float(series[i]), int(h["epoch"][i])
        row[best_col], row["best_epoch"] = best, best_epoch
        last = h.iloc[-1]
        for c in FINAL:
            row[c] = float(last[c]) if c in h else math.nan
        for c in MEAN:
            row[c] = float(h[c].mean()) if c in h and h[c].notna().any() else math.nan
        params = (r.state or {}).get("params")
        row["params"] = params if isinstance(params, int) and not isinstance(params, bool) else None
        row["status"] = r.status
        rows.append(row)
    df = pd.DataFrame(rows)
    for c in ("epochs_planned", "best_epoch", "params"):
        df[c] = pd.array([None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
                          for v in df[c]], dtype="Int64")
    df["epochs_done"] = df["epochs_done"].astype("int64")
    for c in [best_col] + FINAL + MEAN:
        df[c] = df[c].astype("float64")
    for key, values in differing([r.config for r in run_list]).items():
        df[key] = _config_column(values)
    # best first; runs without a value last; equal values keep the order given
    score = df[best_col] if lower_is_better(metric) else -df[best_col]
    order = sorted(range(len(df)), key=lambda i: (math.isnan(score[i]), 0.0 if math.isnan(score[i]) else score[i], i))
    return df.iloc[order].reset_index(drop=True)


# ----------------------------------------------------------------------------- seed groups

SEED_KEY = "recipe.seed"


def _group_key(run: Run):
    """What makes runs one group: the resolved configuration without the seed (None: a run of its own)."""
    import json

    if run.config is None:
        return None
    resolved = resolved_config(run.config)
    flat = flatten({k: v for k, v in resolved.items() if k in ("arch", "recipe") and isinstance(v, dict)})
    flat.pop(SEED_KEY, None)
    return json.dumps(flat, sort_keys=True, default=str)


def seed_groups(run_list: list[Run]) -> list[list[Run]]:
    """The runs grouped by configuration without `recipe.seed`, in order of first appearance; a run without
    a configuration (a bare CSV, a missing config.yaml) is a group of its own."""
    groups: dict = {}
    for i, r in enumerate(run_list):
        key = _group_key(r)
        groups.setdefault(("alone", i) if key is None else key, []).append(r)
    return list(groups.values())


def _seed(run: Run):
    recipe = (run.config or {}).get("recipe")
    seed = recipe.get("seed") if isinstance(recipe, dict) else None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _group_name(names: list[str], taken: set) -> str:
    """One run: its name. Several: their common beginning and end around a `*` (`seed=*,lr=0.1`), else the
    first name and how many more."""
    if len(names) == 1:
        name = names[0]
    else:
        prefix = os.path.commonprefix(names)
        rest = [n[len(prefix):] for n in names]
        suffix = os.path.commonprefix([n[::-1] for n in rest])[::-1]
        name = f"{prefix}*{suffix}" if prefix or suffix else ""
        if not name or name in taken:
            name = f"{names[0]} +{len(names) - 1}"
    while name in taken:
        name += "'"
    return name


def _stats(values: list[float]) -> dict:
    """mean, sample standard deviation (NaN for one value), min, max of the finite values."""
    import numpy as np

    v = np.array([x for x in values if not math.isnan(x)], dtype="float64")
    if not len(v):
        return {"mean": math.nan, "sd": math.nan, "min": math.nan, "max": math.nan}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
            "min": float(v.min()), "max": float(v.max())}


def _status_text(statuses: list[str]) -> str:
    counts: dict[str, int] = {}
    for st in statuses:
        counts[st] = counts.get(st, 0) + 1
    if len(counts) == 1:
        return statuses[0]
    return ", ".join(f"{n} {st}" for st, n in counts.items())


def _metric_by_epoch(runs_: list[Run], metric: str):
    """A DataFrame, one column per run that records `metric`, indexed by epoch (NaN where it has none)."""
    import pandas as pd

    cols = {i: r.history.set_index("epoch")[metric] for i, r in enumerate(runs_)
            if metric in r.history and r.history[metric].notna().any()}
    return pd.DataFrame(cols).sort_index()


def _group_row(g: list[Run], metric: str, name: str) -> dict:
    lower = lower_is_better(metric)
    row = {"group": name, "runs": [r.name for r in g], "paths": [r.path for r in g], "n": len(g)}
    seeds = [_seed(r) for r in g]
    row["seeds"] = seeds if any(s is not None for s in seeds) else None
    arch_cfg = (g[0].config or {}).get("arch")
    row["arch"] = (arch_cfg.get("name") if isinstance(arch_cfg, dict) else None) or (g[0].state or {}).get("arch") or ""
    by_epoch = _metric_by_epoch(g, metric)
    common = by_epoch.dropna() if len(by_epoch.columns) else by_epoch
    last = best = math.nan
    at_last = at_best = _stats([])
    if len(common):
        last = int(common.index.max())
        at_last = _stats(list(common.loc[last]))
        means = common.mean(axis=1)
        best = int(means.idxmin() if lower else means.idxmax())  # the first of equal means
        at_best = _stats(list(common.loc[best]))
    row["epochs_done"], row["epochs_planned"] = last, _planned(g[0])
    for k, v in at_last.items():
        row[f"{metric}_{k}"] = v
    row["best_epoch"] = best
    for k, v in at_best.items():
        row[f"best_{metric}_{k}"] = v
    for c in MEAN:
        values = [x for r in g if c in r.history for x in r.history[c].dropna()]
        row[c] = sum(values) / len(values) if values else math.nan
    params = next((p for r in g if isinstance(p := (r.state or {}).get("params"), int) and not isinstance(p, bool)),
                  None)
    row["params"] = params
    row["status"] = _status_text([r.status for r in g])
    return row


def group_table(run_list: list[Run], metric: str = "val_accuracy"):
    """The comparison of seed groups as a DataFrame, one row per group, best first (see compare_runs).

    Columns: group (a name made of its runs' names), runs, paths (lists), n, seeds (list, or None when no run
    records one), arch; epochs_done = the last epoch every run of the group recorded `metric` for (the last
    common epoch) and epochs_planned; <metric>_mean, _sd, _min, _max at that epoch; best_epoch = the common
    epoch with the best mean, and best_<metric>_mean, _sd, _min, _max there; epoch_seconds and
    images_per_second (means over every epoch of every run); params; status (one word, or counts such as
    "2 finished, 1 interrupted"); then one column per configuration key other than the seed whose value is
    not the same in every group. sd is the sample standard deviation (n - 1), NaN for one run.
    """
    import pandas as pd

    _check_metric(run_list, metric)
    groups = seed_groups(run_list)
    rows, taken = [], set()
    for g in groups:
        rows.append(_group_row(g, metric, _group_name([r.name for r in g], taken)))
        taken.add(rows[-1]["group"])
    df = pd.DataFrame(rows)
    for c in ("epochs_done", "epochs_planned", "best_epoch", "params"):
        df[c] = pd.array([None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
                          for v in df[c]], dtype="Int64")
    df["n"] = df["n"].astype("int64")
    stats = [f"{p}{metric}_{k}" for p in ("", "best_") for k in ("mean", "sd", "min", "max")]
    for c in stats + MEAN:
        df[c] = df[c].astype("float64")
    keys = differing([g[0].config for g in groups])
    for key, values in keys.items():
        if key != SEED_KEY:
            df[key] = _config_column(values)
    score = df[f"best_{metric}_mean"] if lower_is_better(metric) else -df[f"best_{metric}_mean"]
    order = sorted(range(len(df)), key=lambda i: (math.isnan(score[i]), 0.0 if math.isnan(score[i]) else score[i], i))
    return df.iloc[order].reset_index(drop=True)


def compare_runs(paths: list[str], metric: str = "val_accuracy", on_warning: Warn | None = None,
                 by_run: bool = False):
    """Compare runs: a pandas DataFrame, one row per seed group (default) or per run (`by_run=True`).

    Runs whose resolved configurations differ only in `recipe.seed` are one group (see `group_table` for
    its columns: n, mean, standard deviation, min and max of `metric` at the last common epoch and at the
    best epoch of the group's mean). With `by_run=True`, one row per run that can be read, best `metric`
    first:

    paths: run directories, globs (`runs/*`) or metrics.csv files. Columns: run, path, arch, epochs_done,
    epochs_planned, best_<metric>, best_epoch (the first epoch with the best value; lower is better for a
    metric whose name contains "loss" or ends in "seconds"), val_loss, val_accuracy, accuracy (of the last
    epoch), epoch_seconds, images_per_second (means over the epochs), params, status (finished, running,
    interrupted, failed, unknown), then one column per configuration key (dotted, e.g.
    recipe.optimizer.learning_rate) whose value is not the same in every run.

    Problems with a run (a cut-off line, a cell that is not a number, a directory that is not a run) are
    passed to on_warning(file, message), by default issued as `CompareWarning`s. Raises ConfigError when no
    run can be read or no run records the metric.
    """
    run_list = load_runs(paths, on_warning)
    if not run_list:
        raise ConfigError(f"no run could be read from {' '.join(paths)}")
    return table(run_list, metric) if by_run else group_table(run_list, metric)


# ----------------------------------------------------------------------------- rendering


def _number_format(column: str):
    base = column[len("best_"):] if column.startswith("best_") else column
    if base in ("epoch_seconds", "images_per_second"):
        return lambda v: f"{v:.1f}"
    if base == "learning_rate":
        return lambda v: f"{v:.4g}"
    return lambda v: f"{v:.4f}"


def _is_missing(v) -> bool:
    if v is None:
        return False
    try:
        import pandas as pd

        return bool(pd.isna(v)) if not isinstance(v, (list, dict, tuple)) else False
    except (TypeError, ValueError):
        return False


def _config_text(v) -> str:
    import yaml

    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, dict, tuple)):
        return yaml.safe_dump(v, default_flow_style=True, width=math.inf).strip()
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return f"{v:.1f}"
    return str(v)


def rows_for(df, metric: str, style: str) -> tuple[list[str], list[list[str]], list[bool]]:
    """Header, cell texts and right-alignment flags of the table in `style` (table, markdown or csv): the
    groups of `group_table` or the runs of `table`, whichever `df` holds."""
    if "group" in df.columns:
        return _group_rows_for(df, metric, style)
    best_col = f"best_{metric}"
    summary = ["run", "arch", "epochs", best_col, "best_epoch", *FINAL, *MEAN, "params", "status"]
    if style == "csv":
        summary = ["run", "arch", "epochs_done", "epochs_planned", *summary[3:]]
    keys = [c for c in df.columns if c not in SUMMARY_COLUMNS and c not in ("path", best_col)]
    header = summary + keys
    blank = "" if style == "csv" else "-"
    cells = []
    for _, row in df.iterrows():
        out = []
        for c in header:
            if c == "epochs":
                out.append(_epochs_text(row))
            elif c in keys:
                out.append(_key_cell(row[c], style, blank))
            else:
                out.append(_value_cell(c, row[c], style, blank))
        cells.append(out)
    return header, cells, _right(header, cells, ("run", "arch", "status"))


def _epochs_text(row) -> str:
    planned = row["epochs_planned"]
    done = row["epochs_done"]
    return f"{'-' if _is_missing(done) else int(done)}/{'?' if _is_missing(planned) else int(planned)}"


def _key_cell(v, style: str, blank: str) -> str:
    """A configuration value: YAML flow text (cut at 40 characters in the text table), CSV numbers in full."""
    if _is_missing(v):
        return blank
    if style == "csv":
        return _config_text(v) if not isinstance(v, float) else f"{v:.10g}"
    text = _config_text(v)
    if style == "table" and len(text) > _TRUNCATE:
        text = text[:_TRUNCATE - 3] + "..."
    return text


def _value_cell(c: str, v, style: str, blank: str) -> str:
    if _is_missing(v):
        return blank
    if c in ("epochs_done", "epochs_planned", "best_epoch", "n"):
        return str(int(v))
    if c == "params":
        return str(int(v)) if style == "csv" else f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:.6g}" if style == "csv" else _number_format(c)(v)
    return str(v)


def _right(header: list[str], cells: list[list[str]], left: tuple) -> list[bool]:
    right = []
    for j, c in enumerate(header):
        col = [row[j] for row in cells if row[j] not in ("", "-")]
        right.append(c not in left and bool(col) and all(_looks_numeric(t) for t in col))
    return right


def seeds_text(seeds) -> str:
    """[0, 1, 2, 3, 7] -> '0..3,7': runs of three or more consecutive seeds as ranges."""
    if not isinstance(seeds, (list, tuple)):
        return "-"
    out, i = [], 0
    values = [s for s in seeds if s is not None]
    values = sorted(set(values)) + (["?"] if len(values) < len(seeds) else [])
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j] != "?" and values[j + 1] == values[j] + 1:
            j += 1
        out.append(f"{values[i]}..{values[j]}" if j - i >= 2 else ",".join(map(str, values[i:j + 1])))
        i = j + 1
    return ",".join(out)


def _group_rows_for(df, metric: str, style: str) -> tuple[list[str], list[list[str]], list[bool]]:
    """The groups' table: `mean ± sd` and `min..max` cells in text and markdown, one number a cell in CSV."""
    stats = ("mean", "sd", "min", "max")
    keys = [c for c in df.columns if c not in GROUP_COLUMNS and not c.startswith((f"{metric}_", f"best_{metric}_"))]
    blank = "" if style == "csv" else "-"
    if style == "csv":
        header = ["group", "arch", "n", "seeds", "epochs_done", "epochs_planned", *[f"{metric}_{k}" for k in stats],
                  "best_epoch", *[f"best_{metric}_{k}" for k in stats], *MEAN, "params", "status", "runs", *keys]
    else:
        header = ["group", "arch", "n", "seeds", "epochs", metric, "min..max", "best_epoch", f"best_{metric}",
                  "min..max", *MEAN, "params", "status", *keys]
    stat_of = {}  # column index -> (prefix, "mean" or "range") of the text table's statistics cells
    if style != "csv":
        for prefix in ("", "best_"):
            i = header.index(f"{prefix}{metric}")
            stat_of[i], stat_of[i + 1] = (prefix, "mean"), (prefix, "range")
    fmt = _number_format(metric)
    cells = []
    for _, row in df.iterrows():
        out = []
        for j, c in enumerate(header):
            if j in stat_of:
                prefix, what = stat_of[j]
                mean, sd, lo, hi = (row[f"{prefix}{metric}_{k}"] for k in stats)
                if what == "range":
                    out.append(blank if _is_missing(lo) or row["n"] < 2 else f"{fmt(lo)}..{fmt(hi)}")
                else:
                    out.append(blank if _is_missing(mean) else fmt(mean) if _is_missing(sd) else
                               f"{fmt(mean)} ± {fmt(sd)}")
            elif c == "epochs":
                out.append(_epochs_text(row))
            elif c == "seeds":
                out.append(_key_cell(row[c], style, blank) if style == "csv" else seeds_text(row[c]))
            elif c == "runs":
                out.append(_config_text(row[c]))
            elif c in keys:
                out.append(_key_cell(row[c], style, blank))
            else:
                out.append(_value_cell(c, row[c], style, blank))
        cells.append(out)
    right = _right(header, cells, ("group", "arch", "status", "seeds", "runs"))
    return header, cells, [r or j in stat_of for j, r in enumerate(right)]


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace(",", "").replace("/", ""))
        return True
    except ValueError:
        return False


def render(df, metric: str = "val_accuracy", style: str = "table") -> str:
    """The DataFrame of compare_runs as an aligned text table, CSV or a GitHub markdown table."""
    header, cells, right = rows_for(df, metric, style)
    if style == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(cells)
        return buf.getvalue().rstrip("\n")
    if style == "markdown":
        def esc(t):
            return t.replace("|", "\\|")

        lines = ["| " + " | ".join(esc(h) for h in header) + " |",
                 "|" + "|".join("---:" if r else ":---" for r in right) + "|"]
        lines += ["| " + " | ".join(esc(t) for t in row) + " |" for row in cells]
        return "\n".join(lines)
    if style != "table":
        raise ConfigError(f"unknown format '{style}': use table, csv or markdown")
    widths = [max(len(t) for t in [h] + [row[j] for row in cells]) for j, h in enumerate(header)]

    def line(texts):
        return "  ".join(t.rjust(w) if r else t.ljust(w) for t, w, r in zip(texts, widths, right)).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(row) for row in cells])


# ----------------------------------------------------------------------------- the plot


BANDS = ("minmax", "sd")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def plot_runs(runs_or_paths, path: str, on_warning: Warn | None = None, by_run: bool = False,
              band: str = "minmax") -> str:
    """One PNG: loss (left) and accuracy (right) against epoch, training dashed, validation solid.

    By default one curve per seed group (see compare_runs): the mean over its runs, with a band around the
    validation curve (`band`: "minmax", the runs' min..max, or "sd", mean ± one standard deviation); with
    `by_run`, one curve per run. Each curve has its own colour and marker, and the curves are dodged by a
    fraction of an epoch, so that equal curves stay visible. runs_or_paths: `Run`s from load_runs, or paths
    as for compare_runs."""
    if not str(path).lower().endswith(".png"):
        raise ConfigError(f"--plot {path}: the plot is a PNG; name a file ending in .png")
    run_list = list(runs_or_paths)
    if run_list and not isinstance(run_list[0], Run):
        run_list = load_runs(run_list, on_warning)
    if not run_list:
        raise ConfigError("no run to plot")
    groups = [[r] for r in run_list] if by_run else seed_groups(run_list)
    taken: set = set()
    names = []
    for g in groups:
        names.append(_group_name([r.name for r in g], taken))
        taken.add(names[-1])
    return plot_groups(groups, names, path, band=band, by_run=by_run)


def _curve(group: list[Run], column: str):
    """(epochs, mean, sd, min, max) of a column over the runs of a group that reached each epoch."""
    import pandas as pd

    cols = {i: r.history.set_index("epoch")[column] for i, r in enumerate(group) if column in r.history}
    if not cols:
        return None
    frame = pd.DataFrame(cols).sort_index().dropna(how="all")
    if frame.empty:
        return None
    return (frame.index.to_numpy(dtype=float), frame.mean(axis=1).to_numpy(), frame.std(axis=1, ddof=1).to_numpy(),
            frame.min(axis=1).to_numpy(), frame.max(axis=1).to_numpy())


def plot_groups(groups: list[list[Run]], names: list[str], path: str, band: str = "minmax",
                by_run: bool = False) -> str:
    """Draw `groups` (lists of runs, one curve each) named `names` into the PNG `path` (see plot_runs)."""
    fig = curves_figure(groups, names, band, by_run)
    try:
        fig.savefig(path, format="png")
    except OSError as e:
        raise ConfigError(f"--plot {path}: cannot write: {e.strerror or e}") from None
    return path


def curves_figure(groups: list[list[Run]], names: list[str], band: str = "minmax", by_run: bool = False):
    """The matplotlib Figure of plot_groups (not saved)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if band not in BANDS:
        raise ConfigError(f"--band {band}: use {' or '.join(BANDS)}")
    fig = Figure(figsize=(12, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    colours = run_colours(len(groups))
    k = len(groups)
    step = min(0.06, 0.3 / (k - 1)) if k > 1 else 0.0
    handles = []
    banded = False
    for i, (g, name, colour) in enumerate(zip(groups, names, colours)):
        marker, dodge = MARKERS[i % len(MARKERS)], (i - (k - 1) / 2) * step
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            for prefix, style in (("", "--"), ("val_", "-")):
                curve = _curve(g, prefix + key)
                if curve is None:
                    continue
                x, mean, sd, lo, hi = curve
                x = x + dodge
                ax.plot(x, mean, linestyle=style, color=colour, marker=marker, markersize=4, linewidth=1.6,
                        markerfacecolor="none" if prefix else colour)
                if prefix and len(g) > 1:
                    if band == "sd":
                        lo, hi = mean - np.nan_to_num(sd), mean + np.nan_to_num(sd)
                    ax.fill_between(x, lo, hi, color=colour, alpha=0.18, linewidth=0)
                    banded = True
        label = name if by_run or len(g) == 1 else f"{name} (n={len(g)})"
        handles.append(Line2D([], [], color=colour, marker=marker, linewidth=2.5, label=label))
    spread = f"; curves dodged by up to ±{step * (k - 1) / 2:.2g} epoch" if k > 1 else ""
    for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel(f"epoch{spread}")
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    mean_word = "" if by_run else " (mean)"
    handles += [Line2D([], [], color="black", linestyle="--", label=f"training{mean_word}"),
                Line2D([], [], color="black", linestyle="-", marker="o", markerfacecolor="none",
                       label=f"validation{mean_word}")]
    if banded:
        what = "min..max" if band == "minmax" else "mean ± 1 sd"
        handles.append(Patch(color="grey", alpha=0.3, label=f"band: validation {what}\nover a group's runs"))
    ax_acc.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small", frameon=False)
    n_runs = sum(len(g) for g in groups)
    if by_run:
        title = f"{n_runs} run{'s' if n_runs != 1 else ''}, one curve each"
    else:
        title = (f"{k} group{'s' if k != 1 else ''} of {n_runs} run{'s' if n_runs != 1 else ''} (runs that differ "
                 f"only in the seed are one group): the mean of each group")
    fig.suptitle(title)
    return fig


def run_colours(n: int) -> list:
    """One colour per run: matplotlib's tab10, then tab20, then evenly spaced hues."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["hsv"](i / n) for i in range(n)]


# ----------------------------------------------------------------------------- the command


def main(args) -> int:
    import sys

    def warn(file: str, message: str) -> None:
        print(f"warning: {file}: {message}", file=sys.stderr)

    run_list = load_runs(args.runs, warn)
    if not run_list:
        raise ConfigError(f"no run could be read from {' '.join(args.runs)}")
    by_run = getattr(args, "by_run", False)
    band = getattr(args, "band", "minmax")
    df = table(run_list, args.metric) if by_run else group_table(run_list, args.metric)
    if args.plot:
        if not str(args.plot).lower().endswith(".png"):
            raise ConfigError(f"--plot {args.plot}: the plot is a PNG; name a file ending in .png")
    print(render(df, args.metric, args.format))
    sys.stdout.flush()
    if args.plot:
        by_path = {r.path: r for r in run_list}
        if by_run:
            groups, names = [[by_path[p]] for p in df["path"]], list(df["run"])
        else:
            groups, names = [[by_path[p] for p in paths] for paths in df["paths"]], list(df["group"])
        plot_groups(groups, names, args.plot, band=band, by_run=by_run)
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0

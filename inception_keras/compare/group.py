"""The comparison as a table: one row per run (`table`), or per seed group (`group_table`, the default).

One run is one draw. Runs whose resolved configurations differ only in `recipe.seed` are one group, one row:
n, and the mean ± standard deviation and min..max of the metric at the last epoch all of them reached and at
the epoch of the best mean. Configuration keys that differ between the rows (runs.differing, the one
comparison of configurations) become columns.
"""
from __future__ import annotations

import json
import math
import os

from inception_keras import runs
from inception_keras.compare.read import Run, Warn, load_runs, planned
from inception_keras.errors import ConfigError

#: The columns of the table, before the configuration keys that differ (`best_<metric>` is named after the metric).
SUMMARY_COLUMNS = ["run", "arch", "epochs_done", "epochs_planned", "best", "best_epoch", "val_loss", "val_accuracy",
                   "accuracy", "epoch_seconds", "images_per_second", "params", "status"]
#: The columns of the groups' table (group_table), besides the statistics of the metric.
GROUP_COLUMNS = ["group", "runs", "paths", "n", "seeds", "arch", "epochs_done", "epochs_planned", "best_epoch",
                 "epoch_seconds", "images_per_second", "params", "status"]
FINAL = ["val_loss", "val_accuracy", "accuracy"]  # the last epoch's value
MEAN = ["epoch_seconds", "images_per_second"]  # the mean over the epochs
SEED_KEY = "recipe.seed"
STATS = ("mean", "sd", "min", "max")


def lower_is_better(metric: str) -> bool:
    """Losses and durations (`epoch_seconds`) are better low; accuracies, images/s and the rest high."""
    return "loss" in metric or metric.endswith("seconds")


def _config_column(values: list):
    """A differing key's values as a column: numeric when every value is a number, otherwise objects; a
    missing key is NaN, an explicit null None."""
    import pandas as pd

    real = [v for v in values if v is not runs.MISSING and v is not None]
    if real and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in real):
        if all(isinstance(v, int) for v in real) and len(real) == len(values):
            return pd.array(values, dtype="Int64")
        return pd.array([math.nan if v is runs.MISSING or v is None else float(v) for v in values], dtype="float64")
    return pd.Series([math.nan if v is runs.MISSING else v for v in values], dtype=object).array


def _check_metric(run_list: list[Run], metric: str) -> None:
    if not run_list:
        raise ConfigError("no run to compare")
    if not any(metric in r.columns for r in run_list):
        available = []
        for r in run_list:
            available += [c for c in r.columns if c not in available and c != "epoch"]
        raise ConfigError(f"--metric {metric}: no run records it; the runs record: {', '.join(available)}")


def _params(state: dict | None) -> int | None:
    params = (state or {}).get("params")
    return params if isinstance(params, int) and not isinstance(params, bool) else None


def _arch(run: Run) -> str:
    arch_cfg = (run.config or {}).get("arch")
    return (arch_cfg.get("name") if isinstance(arch_cfg, dict) else None) or (run.state or {}).get("arch") or ""


def _frame(rows: list[dict], integers: tuple, floats: list, metric: str, score: str, keys: dict):
    """The rows as a DataFrame: nullable integer and float columns, the differing keys after them, best
    `score` first, rows without one last, equal ones in the order given."""
    import pandas as pd

    df = pd.DataFrame(rows)
    for c in integers:
        df[c] = pd.array(df[c].tolist(), dtype="Int64")
    for c in floats:
        df[c] = df[c].astype("float64")
    for key, values in keys.items():
        df[key] = _config_column(values)
    order = df[score].sort_values(ascending=lower_is_better(metric), na_position="last", kind="stable").index
    return df.loc[order].reset_index(drop=True)


def _run_row(r: Run, metric: str) -> dict:
    h = r.history
    row = {"run": r.name, "path": r.path, "arch": _arch(r), "epochs_done": int(h["epoch"].max()),
           "epochs_planned": planned(r)}
    best = best_epoch = None
    if metric in h and h[metric].notna().any():
        series = h[metric]
        i = series.idxmin() if lower_is_better(metric) else series.idxmax()  # the first of equal values
        best, best_epoch = float(series[i]), int(h["epoch"][i])
    row[f"best_{metric}"], row["best_epoch"] = math.nan if best is None else best, best_epoch
    last = h.iloc[-1]
    for c in FINAL:
        row[c] = float(last[c]) if c in h else math.nan
    for c in MEAN:
        row[c] = float(h[c].mean()) if c in h and h[c].notna().any() else math.nan
    row["params"], row["status"] = _params(r.state), r.status
    return row


def table(run_list: list[Run], metric: str = "val_accuracy"):
    """The comparison as a DataFrame, one row per run, best first (see compare_runs)."""
    _check_metric(run_list, metric)
    best_col = f"best_{metric}"
    df = _frame([_run_row(r, metric) for r in run_list], ("epochs_planned", "best_epoch", "params"),
                [best_col] + FINAL + MEAN, metric, best_col, runs.differing([r.config for r in run_list]))
    df["epochs_done"] = df["epochs_done"].astype("int64")
    return df


# ----------------------------------------------------------------------------- seed groups


def _group_key(run: Run):
    """What makes runs one group: the resolved configuration without the seed (None: a run of its own)."""
    if run.config is None:
        return None
    flat = runs.flat_config(run.config)
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


def group_name(names: list[str], taken: set) -> str:
    """One run: its name. Several: their common beginning and end around a `*` (`seed=*,lr=0.1`), else the
    first name and how many more; a name in `taken` gets primes."""
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


def group_names(groups: list[list[Run]]) -> list[str]:
    """A distinct name for each group (see group_name)."""
    names: list[str] = []
    for g in groups:
        names.append(group_name([r.name for r in g], set(names)))
    return names


def seed_stats(values: list[float]) -> dict:
    """The one statistic of a seed group (the table's columns, a search trial's value, a sweep's comparison):
    mean, sample standard deviation (n - 1; NaN for one value), min and max of the values that are not NaN
    (all NaN when none is)."""
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


def common_epochs(runs_: list[Run], metric: str):
    """`metric` by epoch (rows) and run (columns: the runs that record it), at the epochs every one of those runs
    has a value for (an empty or non-numeric cell is no value)."""
    by_epoch = _metric_by_epoch(runs_, metric)
    return by_epoch.dropna() if len(by_epoch.columns) else by_epoch


def last_common(runs_: list[Run], metric: str) -> tuple[int, list[float]] | None:
    """The last epoch at which every run that records `metric` has a value, and those values (one per such run);
    None when there is no such epoch."""
    return _last(common_epochs(runs_, metric))


def _last(common) -> tuple[int, list[float]] | None:
    if not len(common):
        return None
    last = int(common.index.max())
    return last, [float(v) for v in common.loc[last]]


def _at_epochs(g: list[Run], metric: str) -> dict:
    """epochs_done (the last epoch common to the group's runs) and best_epoch (the common epoch with the best
    mean, the first of equal means), and the statistics of `metric` at each."""
    common = common_epochs(g, metric)
    last = best = math.nan
    at_last = at_best = seed_stats([])
    at = _last(common)
    if at is not None:
        last, values = at
        at_last = seed_stats(values)
        means = common.mean(axis=1)
        best = int(means.idxmin() if lower_is_better(metric) else means.idxmax())
        at_best = seed_stats(list(common.loc[best]))
    row = {"epochs_done": last, "epochs_planned": planned(g[0])}
    row.update({f"{metric}_{k}": v for k, v in at_last.items()})
    row["best_epoch"] = best
    row.update({f"best_{metric}_{k}": v for k, v in at_best.items()})
    return row


def _group_row(g: list[Run], metric: str, name: str) -> dict:
    row = {"group": name, "runs": [r.name for r in g], "paths": [r.path for r in g], "n": len(g)}
    seeds = [_seed(r) for r in g]
    row["seeds"] = seeds if any(s is not None for s in seeds) else None
    row["arch"] = _arch(g[0])
    row.update(_at_epochs(g, metric))
    for c in MEAN:
        values = [x for r in g if c in r.history for x in r.history[c].dropna()]
        row[c] = sum(values) / len(values) if values else math.nan
    row["params"] = next((p for r in g if (p := _params(r.state)) is not None), None)
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
    _check_metric(run_list, metric)
    groups = seed_groups(run_list)
    rows = [_group_row(g, metric, name) for g, name in zip(groups, group_names(groups))]
    stats = [f"{p}{metric}_{k}" for p in ("", "best_") for k in STATS]
    keys = {k: v for k, v in runs.differing([g[0].config for g in groups]).items() if k != SEED_KEY}
    df = _frame(rows, ("epochs_done", "epochs_planned", "best_epoch", "params"), stats + MEAN, metric,
                f"best_{metric}_mean", keys)
    df["n"] = df["n"].astype("int64")
    return df


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

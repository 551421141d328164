"""Where many runs' points are compared: a sweep's points (the table `sweep` prints after training them) and a
search trial's seeds (the trial's value). Both go through compare's seed groups and its one statistic
(`compare.group.seed_stats`), so a trial's value is the `<metric>_mean` that `inception-keras compare` prints for
the trial's seed directories. No TensorFlow.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from inception_keras.compare import group_table, load_runs, plot_groups, render
from inception_keras.compare.group import last_common, seed_stats
from inception_keras.compare.read import Run, Warn
from inception_keras.experiments.grid import Sweep


@dataclass(frozen=True)
class GroupValue:
    """A seed group's statistic of `metric` at the last epoch every seed has a value for."""

    epoch: int
    mean: float
    sd: float | None  # None for one seed
    n: int


def group_value(run_dirs: list[str], metric: str, on_warning: Warn | None = None) -> GroupValue | str:
    """The group's value (see GroupValue), or why there is none (a seed that records no `metric`, no epoch
    that every seed has a value for)."""
    run_list = load_runs(run_dirs, on_warning or (lambda file, message: None))
    at = last_common(run_list, metric) if len(run_list) == len(run_dirs) else None
    if at is None or len(at[1]) != len(run_dirs):
        return f"{metric}: no epoch at which every seed's metrics.csv has a value"
    epoch, values = at
    stats = seed_stats(values)
    return GroupValue(epoch, stats["mean"], None if math.isnan(stats["sd"]) else stats["sd"], len(values))


@dataclass(frozen=True)
class PointsTable:
    """A sweep's points grouped by everything but the seed: the text `sweep` prints, and the groups to plot."""

    text: str
    groups: list[list[Run]]
    names: list[str]

    def plot(self, path: str) -> None:
        """The groups' curves (mean and spread per epoch) as a PNG at `path`."""
        plot_groups(self.groups, self.names, path)


def compare_points(sweep: Sweep, run_dirs: list[str], metric: str, form: str, on_warning: Warn) -> PointsTable | None:
    """The comparison of the sweep's points in `run_dirs` (those that have epochs), grouped by everything but the
    seed as `compare` prints it, with its heading. None when no point can be read or none records `metric` (then
    a warning says so)."""
    run_list = load_runs(run_dirs, on_warning) if run_dirs else []
    if not run_list:
        return None
    if not any(metric in r.columns for r in run_list):
        on_warning(f"--metric {metric}", f"no point records it; no comparison (inception-keras compare "
                                         f"'{os.path.join(sweep.directory, '*')}' --metric ...)")
        return None
    df = group_table(run_list, metric)
    text = (f"\nsweep {sweep.directory}: {len(run_list)} of {len(sweep.points)} points have epochs; "
            f"grouped by everything but the seed:\n{render(df, metric, form)}")
    by_path = {r.path: r for r in run_list}
    return PointsTable(text, [[by_path[p] for p in paths] for paths in df["paths"]], list(df["group"]))

"""`inception-keras compare` as a library call: `report` prints the table (and writes the plot) and returns
the exit status (cli's `compare` command calls it with the parsed command line)."""
from __future__ import annotations

import sys

from inception_keras import writing
from inception_keras.compare.group import group_table, table
from inception_keras.compare.plot import plot_groups
from inception_keras.compare.read import Run, load_runs
from inception_keras.compare.render import render
from inception_keras.errors import ConfigError


def print_warning(file: str, message: str) -> None:
    """A problem with a run, on stderr: 'warning: <file>: <message>'."""
    print(f"warning: {file}: {message}", file=sys.stderr)


def plot_table(df, run_list: list[Run], path: str, band: str = "minmax", by_run: bool = False) -> str:
    """Plot the rows of a table (`table` with by_run, else `group_table`) of `run_list`, one curve each, named
    as in the table, into the PNG `path`."""
    by_path = {r.path: r for r in run_list}
    if by_run:
        groups, names = [[by_path[p]] for p in df["path"]], list(df["run"])
    else:
        groups, names = [[by_path[p] for p in paths] for paths in df["paths"]], list(df["group"])
    return plot_groups(groups, names, path, band=band, by_run=by_run)


def report(paths: list[str], metric: str = "val_accuracy", fmt: str = "table", plot: str | None = None,
           by_run: bool = False, band: str = "minmax") -> int:
    """Print the comparison of the runs `paths` name (a table in `fmt`: table, csv or markdown; one row per
    seed group, or per run with `by_run`) on stdout, warnings on stderr; with `plot`, also draw it into that
    PNG. Returns the exit status (0); no readable run, an unknown metric or format, a plot path that is not
    a .png raise ConfigError."""
    run_list = load_runs(paths, print_warning)
    if not run_list:
        raise ConfigError(f"no run could be read from {' '.join(paths)}")
    df = table(run_list, metric) if by_run else group_table(run_list, metric)
    if plot:
        writing.check(plot, writing.PNG)
    print(render(df, metric, fmt))
    sys.stdout.flush()
    if plot:
        plot_table(df, run_list, plot, band=band, by_run=by_run)
        print(f"plot: {plot}", file=sys.stderr)
    return 0


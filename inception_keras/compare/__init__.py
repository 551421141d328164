"""Comparing runs: read, group, render, plot. Imports runs and lang only; never TensorFlow.

    read    the runs named by paths and globs, as `Run`s (warnings for what cannot be read)
    group   the table: one row per run or per seed group, best first
    render  the table as aligned text, CSV or markdown
    plot    the curves as a PNG
    report  the command as a library call (`report`)
"""
from inception_keras.compare.group import compare_runs, group_table, seed_groups, table
from inception_keras.compare.plot import plot_groups, plot_runs
from inception_keras.compare.read import CompareWarning, Run, load_runs
from inception_keras.compare.render import render
from inception_keras.compare.report import plot_table, report

__all__ = ["CompareWarning", "Run", "compare_runs", "group_table", "load_runs", "plot_groups", "plot_runs",
           "plot_table", "render", "report", "seed_groups", "table"]

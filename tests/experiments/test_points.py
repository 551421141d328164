"""One seed-group statistic for many runs: a sweep's table (experiments.points.compare_points, as `sweep` prints it),
a search trial's value (experiments.points.group_value, what Optuna is told) and `compare` are one computation,
also where a seed's cell is empty or not a number and where seeds stopped at different epochs. No TensorFlow."""
from __future__ import annotations

import csv
import io
import math
import os
import statistics

import optuna
import pytest
from conftest import TINY_ARCH, TINY_RECIPE

from inception_keras import runs
from inception_keras.compare import compare_runs
from inception_keras.compare.group import seed_stats
from inception_keras.engine.plan import TrainOptions
from inception_keras.experiments import trial
from inception_keras.experiments.grid import make_sweep
from inception_keras.experiments.points import GroupValue, compare_points, group_value

#: val_accuracy by seed and epoch as metrics.csv cells: "" is an empty cell, "nan" a cell that is not a number.
CASES = {
    "complete": {0: ["0.5", "0.7", "0.6"], 1: ["0.4", "0.8", "0.9"], 2: ["0.6", "0.65", "0.7"]},
    "empty cell at the last epoch": {0: ["0.5", "0.7", "0.6"], 1: ["0.4", "0.8", "0.9"], 2: ["0.6", "0.65", ""]},
    "nan cell at the last epoch": {0: ["0.5", "0.7", "nan"], 1: ["0.4", "0.8", "0.9"], 2: ["0.6", "0.65", "0.7"]},
    "one seed stopped early": {0: ["0.5", "0.7", "0.6"], 1: ["0.4", "0.8"], 2: ["0.6", "0.65", "0.7"]},
    "nan cell in the middle": {0: ["0.5", "nan", "0.6"], 1: ["0.4", "0.8", "0.9"], 2: ["0.6", "0.65", "0.7"]},
}


def seeded_sweep(tmp_path, cells: dict[int, list[str]]):
    """A real sweep over recipe.seed=0..2 whose points hold their own config.yaml and the given metrics.csv."""
    arch, recipe = tmp_path / "tiny.yaml", tmp_path / "recipe.yaml"
    arch.write_text(TINY_ARCH)
    recipe.write_text(TINY_RECIPE.replace("DATA", str(tmp_path / "data")))
    sweep = make_sweep(["seed=0..2"], TrainOptions(str(arch), str(recipe)), str(tmp_path / "sweep"))
    for point, seed in zip(sweep.points, sorted(cells)):
        os.makedirs(point.run_dir)
        runs.write_config(point.run_dir, point.config)
        lines = ["epoch,loss,val_accuracy"] + [f"{e},1.0,{v}" for e, v in enumerate(cells[seed], 1)]
        with open(os.path.join(point.run_dir, runs.METRICS), "w") as f:
            f.write("\n".join(lines) + "\n")
    return sweep


def by_hand(cells: dict[int, list[str]]) -> tuple[int, float, float]:
    """(epoch, mean, sd) at the last epoch where every seed has a number, with the statistics module."""
    def number(c):
        return c not in ("", "nan")

    epoch = max(e for e in range(1, 4) if all(len(v) >= e and number(v[e - 1]) for v in cells.values()))
    values = [float(v[epoch - 1]) for v in cells.values()]
    return epoch, statistics.mean(values), statistics.stdev(values)


@pytest.mark.parametrize("case", CASES)
def test_a_sweeps_table_a_trials_value_and_compare_are_one_statistic(tmp_path, case):
    sweep = seeded_sweep(tmp_path, CASES[case])
    dirs = [p.run_dir for p in sweep.points]
    table = compare_points(sweep, dirs, "val_accuracy", "csv", lambda file, message: None)
    row = next(csv.DictReader(io.StringIO(table.text.split("seed:\n", 1)[1])))
    value = group_value(dirs, "val_accuracy")
    grouped = compare_runs(dirs, on_warning=lambda file, message: None).iloc[0]
    epoch, mean, sd = by_hand(CASES[case])
    assert isinstance(value, GroupValue) and (value.epoch, value.n) == (epoch, 3)
    assert value.mean == pytest.approx(mean, abs=1e-12) and value.sd == pytest.approx(sd, abs=1e-12)
    assert (value.mean, value.sd, value.epoch) == (grouped["val_accuracy_mean"], grouped["val_accuracy_sd"],
                                                   grouped["epochs_done"])
    assert int(row["epochs_done"]) == epoch and row["n"] == "3"
    assert float(row["val_accuracy_mean"]) == pytest.approx(value.mean, abs=5e-4)  # the table shows 4 digits


def test_a_seed_without_the_metric_gives_no_value_and_the_sweep_says_so(tmp_path):
    sweep = seeded_sweep(tmp_path, {0: ["0.5", "0.7"], 1: ["", ""], 2: ["0.6", "0.65"]})
    dirs = [p.run_dir for p in sweep.points]
    assert group_value(dirs, "val_accuracy") == "val_accuracy: no epoch at which every seed's metrics.csv has a value"
    assert isinstance(group_value(dirs, "loss"), GroupValue)
    seen = []
    assert compare_points(sweep, dirs, "val_loss", "table", lambda file, message: seen.append(file)) is None
    assert seen[-1] == "--metric val_loss" and "--metric val_loss" not in seen[:-1]


def test_the_one_statistic_leaves_out_what_is_not_a_number():
    assert seed_stats([0.5, math.nan, 0.7]) == pytest.approx({"mean": 0.6, "sd": statistics.stdev([0.5, 0.7]),
                                                              "min": 0.5, "max": 0.7})
    one = seed_stats([0.5])
    assert one["mean"] == 0.5 and math.isnan(one["sd"])
    assert all(math.isnan(v) for v in seed_stats([math.nan]).values())
    assert not hasattr(trial, "mean_sd")  # the trial's own statistic is gone: it uses compare's


def test_the_pruner_is_told_the_one_statistics_mean(tmp_path):
    cells = CASES["one seed stopped early"]
    sweep = seeded_sweep(tmp_path, cells)
    dirs = [p.run_dir for p in sweep.points]
    study = optuna.create_study(direction="maximize")
    t = study.ask()
    assert not trial._Pruning(t, "val_accuracy", dirs).pruned(ask=False)
    assert study.trials[0].intermediate_values == pytest.approx(
        {e: seed_stats([float(v[e - 1]) for v in cells.values()])["mean"] for e in (1, 2)})

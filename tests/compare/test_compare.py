"""`inception-keras compare`: the table, its order and differing keys, the plot, and real run directories'
mess (cut-off CSVs, repeated epochs, old columns, non-runs, empty files, cells that are not numbers)."""
from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, TINY_ARCH, TINY_RECIPE, cli, write_bars

import inception_keras
from inception_keras import runs
from inception_keras.compare import compare_runs, load_runs, plot_runs, render
from inception_keras.compare.plot import run_colours
from inception_keras.errors import ConfigError

BASE_CONFIG = {
    "arch": {"name": "tiny", "input": [16, 16, 1], "classes": 10,
             "defaults": {"activation": "relu", "initializer": "glorot_uniform", "batch_norm": False},
             "stages": {"s1": [{"conv": {"filters": 8, "kernel": 3, "stride": 2}}],
                        "head": [{"global_avgpool": {}}, {"dense": {}}]}},
    "recipe": {"name": "tiny", "dataset": {"name": "bars", "kind": "idx", "path": "/data"}, "epochs": 3,
               "batch_size": 32, "optimizer": {"name": "adam", "learning_rate": 0.01, "momentum": 0.0},
               "label_smoothing": 0.0, "seed": 1},
}
SUMMARY = ["run", "path", "arch", "epochs_done", "epochs_planned", "best_val_accuracy", "best_epoch", "val_loss",
           "val_accuracy", "accuracy", "epoch_seconds", "images_per_second", "params", "status"]


def history(val_acc, loss0=2.0, seconds=(3.0, 1.0, 1.0, 1.0, 1.0)):
    """Metric rows as the trainer's Backup callback keeps them; val_accuracy as given, the rest derived."""
    return [{"epoch": i + 1, "loss": loss0 - 0.3 * i, "accuracy": 0.2 + 0.1 * i, "val_loss": 1.5 - va,
             "val_accuracy": va, "learning_rate": 0.01, "epoch_seconds": seconds[i],
             "images_per_second": 640 / seconds[i]} for i, va in enumerate(val_acc)]


def make_run(root, name, rows, sets=None, status="finished", planned=3, params=728, drop=()):
    """A run directory written with the trainer's own writers (runs.write_*)."""
    run_dir = os.path.join(str(root), name)
    os.makedirs(os.path.join(run_dir, runs.BACKUP), exist_ok=True)
    config = copy.deepcopy(BASE_CONFIG)
    config["recipe"]["epochs"] = planned
    for key, value in (sets or {}).items():
        node = config
        *parents, last = key.split(".")
        for p in parents:
            node = node[p]
        if value is _DROP:
            del node[last]
        else:
            node[last] = value
    runs.write_config(run_dir, config)
    runs.write_metrics(run_dir, rows)
    state = {"status": status, "epochs_done": len(rows), "epochs": planned, "arch": "tiny", "recipe": "tiny",
             "params": params}
    for key in drop:
        state.pop(key)
    runs.write_state(run_dir, **state)
    return run_dir


_DROP = object()


def collect():
    seen = []
    return seen, lambda file, message: seen.append((file, message))


def rounded(value):
    """The CSV keeps 6 significant digits (runs._fmt)."""
    return float(f"{value:.6g}")


# ----------------------------------------------------------------------------- the table


def test_values_order_and_differing_keys(tmp_path):
    ha, hb, hc = history([0.5, 0.7, 0.6]), history([0.4, 0.8, 0.9]), history([0.3, 0.55])
    a = make_run(tmp_path, "a", ha)
    b = make_run(tmp_path, "b", hb, sets={"recipe.optimizer.learning_rate": 0.05})
    c = make_run(tmp_path, "c", hc, sets={"arch.defaults.batch_norm": True}, status="interrupted", params=999)
    seen, warn = collect()
    df = compare_runs([a, b, c], on_warning=warn, by_run=True)

    assert list(df.columns) == SUMMARY + ["arch.defaults.batch_norm", "arch.stages.s1[0].conv.batch_norm",
                                          "recipe.optimizer.learning_rate"]
    assert list(df["run"]) == ["b", "a", "c"]  # best val_accuracy 0.9, 0.7, 0.55
    by = df.set_index("run")
    for name, h in (("a", ha), ("b", hb), ("c", hc)):
        best = max(h, key=lambda r: r["val_accuracy"])
        row = by.loc[name]
        assert row["best_val_accuracy"] == rounded(best["val_accuracy"])
        assert row["best_epoch"] == best["epoch"]
        assert row["epochs_done"] == len(h)
        assert row["epochs_planned"] == 3
        assert row["val_loss"] == rounded(h[-1]["val_loss"])
        assert row["val_accuracy"] == rounded(h[-1]["val_accuracy"])
        assert row["accuracy"] == rounded(h[-1]["accuracy"])
        assert row["epoch_seconds"] == pytest.approx(np.mean([rounded(r["epoch_seconds"]) for r in h]))
        assert row["images_per_second"] == pytest.approx(np.mean([rounded(r["images_per_second"]) for r in h]))
        assert row["arch"] == "tiny"
    assert by.loc["a", "best_epoch"] == 2  # not the last epoch: the best one
    assert list(df["params"]) == [728, 728, 999]
    assert list(df["status"]) == ["finished", "finished", "interrupted"]
    assert list(df["recipe.optimizer.learning_rate"]) == [0.05, 0.01, 0.01]
    assert list(df["arch.defaults.batch_norm"]) == [False, False, True]
    assert list(df["path"]) == [b, a, c]
    # numeric columns stay numeric
    for col in ("best_val_accuracy", "val_loss", "epoch_seconds", "recipe.optimizer.learning_rate"):
        assert pd.api.types.is_float_dtype(df[col]), col
    for col in ("epochs_done", "epochs_planned", "best_epoch", "params"):
        assert pd.api.types.is_integer_dtype(df[col]), col
    # an interrupted run is a warning naming its state.json
    assert seen == [(os.path.join(c, "state.json"), "the run interrupted after epoch 2 of 3")]


def test_loss_metric_lower_is_better_and_runs_without_it_last(tmp_path):
    a = make_run(tmp_path, "a", history([0.5, 0.6], loss0=2.0))
    b = make_run(tmp_path, "b", history([0.5, 0.6], loss0=1.0))
    old = make_run(tmp_path, "old", history([0.9]))
    # an older run without the training loss column
    rows = list(csv.DictReader(open(os.path.join(old, "metrics.csv"))))
    with open(os.path.join(old, "metrics.csv"), "w") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k != "loss"], lineterminator="\n")
        w.writeheader()
        w.writerows({k: v for k, v in r.items() if k != "loss"} for r in rows)
    seen, warn = collect()
    df = compare_runs([old, a, b], metric="loss", on_warning=warn, by_run=True)
    assert list(df["run"]) == ["b", "a", "old"]
    assert list(df["best_loss"][:2]) == [rounded(1.0 - 0.3), rounded(2.0 - 0.3)]
    assert list(df["best_epoch"][:2]) == [2, 2]
    assert math.isnan(df["best_loss"][2]) and pd.isna(df["best_epoch"][2])
    assert seen == [(os.path.join(old, "metrics.csv"), "no column loss (an older run?); shown as empty")]


def test_equal_runs_and_a_single_run_have_no_key_columns(tmp_path):
    a = make_run(tmp_path, "a", history([0.5]))
    b = make_run(tmp_path, "b", history([0.6]))
    assert list(compare_runs([a, b], on_warning=lambda *_: None, by_run=True).columns) == SUMMARY
    c = make_run(tmp_path, "c", history([0.7]), sets={"recipe.seed": 7})
    assert list(compare_runs([c], on_warning=lambda *_: None, by_run=True).columns) == SUMMARY
    assert list(compare_runs([a, b, c], on_warning=lambda *_: None, by_run=True).columns) == \
        SUMMARY + ["recipe.seed"]


def test_a_key_missing_in_one_run_differs_and_lists_compare_whole(tmp_path):
    """A key a run's recipe lacks because an older version had none is compared as its default (no
    difference); in a configuration this version cannot read, a missing key is a difference."""
    a = make_run(tmp_path, "a", history([0.5]))
    b = make_run(tmp_path, "b", history([0.6]), sets={"recipe.label_smoothing": _DROP, "arch.input": [32, 32, 1]})
    c = make_run(tmp_path, "c", history([0.4]), sets={"recipe.future_key": 3})  # not a recipe of this version
    df = compare_runs([a, b, c], on_warning=lambda *_: None, by_run=True)
    keys = [k for k in df.columns if k not in SUMMARY]
    assert keys[0] == "arch.input" and "recipe.future_key" in keys and "recipe.label_smoothing" not in keys[:1]
    assert list(df["arch.input"]) == [[32, 32, 1], [16, 16, 1], [16, 16, 1]]
    assert list(compare_runs([a, b], on_warning=lambda *_: None, by_run=True).columns) == SUMMARY + ["arch.input"]
    assert pd.isna(df["recipe.future_key"][0]) and pd.isna(df["recipe.future_key"][1])
    assert df["recipe.future_key"][2] == 3
    text = render(df, style="table")
    assert "[32, 32, 1]" in text


def test_architectures_are_compared_resolved(tmp_path):
    """Architectures are compared with every default filled in: a default that one run sets shows against
    the default value in the others (and in the layers that inherit it), and keys written out with their
    default values are no difference."""
    a = make_run(tmp_path, "a", history([0.5]))
    b = make_run(tmp_path, "b", history([0.6]), sets={"arch.defaults.bn_momentum": 0.9})
    c = make_run(tmp_path, "c", history([0.4]), sets={"arch.stages.s1": [{"conv": {
        "filters": 8, "kernel": 3, "stride": 2, "padding": "same", "activation": "relu", "name": "conv1"}}]})
    df = compare_runs([a, b, c], on_warning=lambda *_: None, by_run=True)
    assert list(df.columns) == SUMMARY + ["arch.defaults.bn_momentum", "arch.stages.s1[0].conv.bn_momentum"]
    assert list(df["arch.defaults.bn_momentum"]) == [0.9, 0.99, 0.99]
    assert list(df["arch.stages.s1[0].conv.bn_momentum"]) == [0.9, 0.99, 0.99]


def test_status_running_only_while_the_lock_is_held(tmp_path):
    a = make_run(tmp_path, "a", history([0.5]), status="running")
    with runs.RunLock(a):
        seen, warn = collect()
        assert list(compare_runs([a], on_warning=warn, by_run=True)["status"]) == ["running"]
        assert seen == []
    seen, warn = collect()
    assert list(compare_runs([a], on_warning=warn, by_run=True)["status"]) == ["interrupted"]
    assert [f for f, _ in seen] == [os.path.join(a, "state.json")] * 2
    assert "no process holds the run's lock" in seen[0][1]


def test_no_params_or_planned_epochs_stay_empty(tmp_path):
    a = make_run(tmp_path, "a", history([0.5]), drop=("params", "epochs"))
    cfg = yaml.safe_load(open(os.path.join(a, "config.yaml")))
    del cfg["recipe"]["epochs"]
    runs.write_config(a, cfg)
    df = compare_runs([a], on_warning=lambda *_: None, by_run=True)
    assert pd.isna(df["params"][0]) and pd.isna(df["epochs_planned"][0])
    assert render(df).splitlines()[2].split()[2] == "1/?"


# ----------------------------------------------------------------------------- seed groups

GROUP_SUMMARY = ["group", "runs", "paths", "n", "seeds", "arch", "epochs_done", "epochs_planned",
                 "val_accuracy_mean", "val_accuracy_sd", "val_accuracy_min", "val_accuracy_max", "best_epoch",
                 "best_val_accuracy_mean", "best_val_accuracy_sd", "best_val_accuracy_min", "best_val_accuracy_max",
                 "epoch_seconds", "images_per_second", "params", "status"]


def seed_runs(root):
    """Three seeds of one configuration and two of another (one of them interrupted after 2 of 3 epochs)."""
    va = {"a-s0": [0.5, 0.7, 0.6], "a-s1": [0.4, 0.8, 0.9], "a-s2": [0.6, 0.65, 0.7],
          "b-s0": [0.3, 0.5, 0.58], "b-s1": [0.35, 0.6]}
    paths = {}
    for name, values in va.items():
        sets = {"recipe.seed": int(name[-1])}
        if name.startswith("b"):
            sets["recipe.optimizer.learning_rate"] = 0.05
        status = "interrupted" if name == "b-s1" else "finished"
        paths[name] = make_run(root, name, history(values), sets=sets, status=status)
    return va, paths


def test_runs_that_differ_only_in_the_seed_are_one_group(tmp_path):
    va, paths = seed_runs(tmp_path)
    seen, warn = collect()
    df = compare_runs(list(paths.values()), on_warning=warn)
    assert list(df.columns) == GROUP_SUMMARY + ["recipe.optimizer.learning_rate"]  # the seed is no column
    assert list(df["group"]) == ["a-s*", "b-s*"] and list(df["n"]) == [3, 2]
    assert list(df["runs"]) == [["a-s0", "a-s1", "a-s2"], ["b-s0", "b-s1"]]
    assert list(df["seeds"]) == [[0, 1, 2], [0, 1]]
    assert list(df["recipe.optimizer.learning_rate"]) == [0.01, 0.05]
    assert list(df["status"]) == ["finished", "1 finished, 1 interrupted"]
    a, b = df.iloc[0], df.iloc[1]
    curves_a = np.array([[rounded(v) for v in va[f"a-s{i}"]] for i in range(3)])  # runs x epochs
    means = curves_a.mean(axis=0)
    assert a["epochs_done"] == 3 and a["best_epoch"] == int(np.argmax(means)) + 1
    for prefix, epoch in (("", 3), ("best_", a["best_epoch"])):
        at = curves_a[:, epoch - 1]
        assert a[f"{prefix}val_accuracy_mean"] == pytest.approx(at.mean())
        assert a[f"{prefix}val_accuracy_sd"] == pytest.approx(at.std(ddof=1))
        assert (a[f"{prefix}val_accuracy_min"], a[f"{prefix}val_accuracy_max"]) == (at.min(), at.max())
    # b: the interrupted run has 2 epochs, so epoch 2 is the last common one; epoch 3 of b-s0 takes no part
    assert b["epochs_done"] == 2 and b["epochs_planned"] == 3 and b["best_epoch"] == 2
    assert b["val_accuracy_mean"] == pytest.approx((0.5 + 0.6) / 2)
    assert b["val_accuracy_sd"] == pytest.approx(np.std([0.5, 0.6], ddof=1))
    assert (b["val_accuracy_min"], b["val_accuracy_max"]) == (0.5, 0.6)
    assert a["epoch_seconds"] == pytest.approx(np.mean([1.0] * 6 + [3.0] * 3))
    for col in ("val_accuracy_mean", "best_val_accuracy_sd", "recipe.optimizer.learning_rate"):
        assert pd.api.types.is_float_dtype(df[col]), col
    for col in ("n", "epochs_done", "best_epoch", "params"):
        assert pd.api.types.is_integer_dtype(df[col]), col
    assert seen == [(os.path.join(paths["b-s1"], "state.json"), "the run interrupted after epoch 2 of 3")]
    # per run, as before: five rows, the seed a differing key
    by_run = compare_runs(list(paths.values()), on_warning=warn, by_run=True)
    assert list(by_run["run"]) == ["a-s1", "a-s0", "a-s2", "b-s1", "b-s0"]
    assert list(by_run.columns)[-2:] == ["recipe.optimizer.learning_rate", "recipe.seed"]


def test_lower_is_better_groups_and_runs_of_their_own(tmp_path):
    a0 = make_run(tmp_path, "a0", history([0.5, 0.6], loss0=2.0), sets={"recipe.seed": 0})
    a1 = make_run(tmp_path, "a1", history([0.5, 0.6], loss0=2.2), sets={"recipe.seed": 0})  # the same seed again
    b = make_run(tmp_path, "b", history([0.5, 0.6], loss0=1.0), sets={"recipe.batch_size": 64})
    loose = tmp_path / "loose.csv"
    shutil.copy(os.path.join(a1, "metrics.csv"), loose)
    df = compare_runs([a0, a1, b, str(loose)], metric="loss", on_warning=lambda *_: None)
    assert list(df["group"]) == ["b", "a*", "loose"]  # loss: lower first; a CSV without config.yaml alone
    assert list(df["n"]) == [1, 2, 1]
    assert df["best_loss_mean"][1] == pytest.approx(np.mean([rounded(2.0 - 0.3), rounded(2.2 - 0.3)]))
    assert math.isnan(df["best_loss_sd"][0]) and df["best_loss_min"][0] == df["best_loss_max"][0] == 0.7
    assert df["seeds"][1] == [0, 0] and df["seeds"][2] is None


def test_group_table_formats(tmp_path):
    va, paths = seed_runs(tmp_path)
    df = compare_runs(list(paths.values()), on_warning=lambda *_: None)
    table = render(df, style="table").splitlines()
    assert table[0].split() == ["group", "arch", "n", "seeds", "epochs", "val_accuracy", "min..max", "best_epoch",
                                "best_val_accuracy", "min..max", "epoch_seconds", "images_per_second", "params",
                                "status", "recipe.optimizer.learning_rate"]
    mean, sd = df["val_accuracy_mean"][0], df["val_accuracy_sd"][0]
    assert f"  {mean:.4f} ± {sd:.4f}  0.6000..0.9000  " in table[2]
    assert table[2].split()[:5] == ["a-s*", "tiny", "3", "0..2", "3/3"]
    assert table[3].split()[:5] == ["b-s*", "tiny", "2", "0,1", "2/3"]
    end = table[0].index("best_val_accuracy") + len("best_val_accuracy")  # statistics right-aligned
    assert table[2][:end].endswith(f"{df['best_val_accuracy_sd'][0]:.4f}")
    rows = list(csv.DictReader(io.StringIO(render(df, style="csv"))))
    assert list(rows[0])[:11] == ["group", "arch", "n", "seeds", "epochs_done", "epochs_planned", "val_accuracy_mean",
                                  "val_accuracy_sd", "val_accuracy_min", "val_accuracy_max", "best_epoch"]
    assert float(rows[0]["val_accuracy_sd"]) == pytest.approx(sd, rel=1e-5)
    assert rows[1]["seeds"] == "[0, 1]" and rows[1]["runs"] == "[b-s0, b-s1]" and rows[1]["status"] == \
        "1 finished, 1 interrupted"
    md = render(df, style="markdown").splitlines()
    assert md[2].startswith(f"| a-s* | tiny | 3 | 0..2 | 3/3 | {mean:.4f} ± {sd:.4f} | 0.6000..0.9000 |")
    one = render(compare_runs([paths["a-s0"]], on_warning=lambda *_: None)).splitlines()[2]
    assert one.split()[:8] == ["a-s0", "tiny", "1", "0", "3/3", "0.6000", "-", "2"]  # n = 1: no sd, no range


def test_seeds_text():
    from inception_keras.compare.render import seeds_text

    assert seeds_text([3, 0, 1, 2, 7, 9, 10]) == "0..3,7,9,10"
    assert seeds_text([0, None]) == "0,?" and seeds_text(None) == "-"


def test_group_plot_draws_a_band_and_keeps_equal_curves_apart(tmp_path):
    from matplotlib.collections import PolyCollection
    from matplotlib.text import Text

    from inception_keras.compare import load_runs, seed_groups
    from inception_keras.compare.plot import curves_figure

    va, paths = seed_runs(tmp_path)
    twin = make_run(tmp_path, "twin", history(va["a-s0"]), sets={"recipe.batch_size": 64, "recipe.seed": 0})
    run_list = load_runs([*paths.values(), twin], on_warning=lambda *_: None)
    groups = seed_groups(run_list)
    assert [[r.name for r in g] for g in groups] == [["a-s0", "a-s1", "a-s2"], ["b-s0", "b-s1"], ["twin"]]
    fig = curves_figure(groups, ["a", "b", "twin"], band="minmax")
    ax_loss, ax_acc = fig.axes[:2]
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert "3 groups of 6 runs (runs that differ only in the seed are one group): the mean of each group" in texts
    assert {"a (n=3)", "b (n=2)", "twin"} <= set(texts)
    assert "band: validation min..max\nover a group's runs" in texts
    # the validation accuracy of group a: its mean, and a band from the min to the max of its runs
    lines = [ln for ln in ax_acc.get_lines() if ln.get_linestyle() == "-"]
    assert len(lines) == 3
    curves = np.array([[rounded(v) for v in va[f"a-s{i}"]] for i in range(3)])
    assert np.allclose(lines[0].get_ydata(), curves.mean(axis=0))
    bands = [c for c in ax_acc.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2  # groups of one run have none
    ys = bands[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(ys.min(), curves.min()) and np.isclose(ys.max(), curves.max())
    # "twin" has the same curve as a-s0 alone: another marker, and dodged along the epochs
    assert lines[0].get_marker() != lines[2].get_marker()
    assert not np.allclose(lines[0].get_xdata(), lines[2].get_xdata())
    assert np.allclose(np.round(lines[2].get_xdata()), [1, 2, 3])
    sd_fig = curves_figure(groups, ["a", "b", "twin"], band="sd")
    assert "band: validation mean ± 1 sd\nover a group's runs" in [t.get_text() for t in sd_fig.findobj(Text)]
    ys = [c for c in sd_fig.axes[1].collections if isinstance(c, PolyCollection)][0].get_paths()[0].vertices[:, 1]
    assert np.isclose(ys.max(), (curves.mean(axis=0) + curves.std(axis=0, ddof=1)).max())


# ----------------------------------------------------------------------------- formats


def test_formats(tmp_path):
    a = make_run(tmp_path, "a", history([0.5, 0.75]), params=5977530)
    b = make_run(tmp_path, "b", history([0.25]), sets={"recipe.optimizer.name": "sgd"}, params=1234)
    df = compare_runs([a, b], on_warning=lambda *_: None, by_run=True)
    header = ["run", "arch", "epochs", "best_val_accuracy", "best_epoch", "val_loss", "val_accuracy", "accuracy",
              "epoch_seconds", "images_per_second", "params", "status", "recipe.optimizer.name"]

    table = render(df, style="table").splitlines()
    assert table[0].split() == header
    assert set(table[1].replace(" ", "")) == {"-"}
    assert table[2].split() == ["a", "tiny", "2/3", "0.7500", "2", "0.7500", "0.7500", "0.3000", "2.0", "426.7",
                                "5,977,530", "finished", "adam"]
    assert table[3].split()[:4] == ["b", "tiny", "1/3", "0.2500"]
    # right-aligned numbers: each value ends where its header ends
    end = table[0].index("params") + len("params")
    assert table[2][:end].endswith("5,977,530") and table[3][:end].endswith("1,234")

    md = render(df, style="markdown").splitlines()
    assert md[0] == "| " + " | ".join(header) + " |"
    assert md[1].count("|") == len(header) + 1 and "---:" in md[1] and ":---" in md[1]
    assert md[2].startswith("| a | tiny | 2/3 | 0.7500 |") and "| 5,977,530 |" in md[2]

    rows = list(csv.DictReader(io.StringIO(render(df, style="csv"))))
    assert [r["run"] for r in rows] == ["a", "b"]
    assert rows[0]["epochs_done"] == "2" and rows[0]["epochs_planned"] == "3" and rows[0]["params"] == "5977530"
    for col in ("best_val_accuracy", "val_loss", "accuracy", "epoch_seconds", "images_per_second"):
        assert float(rows[0][col]) == pytest.approx(df[col][0], rel=1e-5), col
    assert rows[1]["recipe.optimizer.name"] == "sgd"


@pytest.mark.e2e
def test_api_is_exported_lazily(tmp_path):
    """`import inception_keras` stays light: TensorFlow, Keras and pandas load when a function needs them."""
    code = ("import sys, inception_keras; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'tensorflow', 'keras', 'pandas', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    a = make_run(tmp_path, "a", history([0.5]))
    with pytest.warns(inception_keras.compare.CompareWarning, match="not a run directory"):
        df = inception_keras.compare_runs([a, str(tmp_path)])
    assert isinstance(df, pd.DataFrame) and list(df["group"]) == ["a"] and list(df["n"]) == [1]
    assert list(inception_keras.compare_runs([a], by_run=True)["run"]) == ["a"]


# ----------------------------------------------------------------------------- broken inputs


def test_cut_off_csv_keeps_the_complete_epochs(tmp_path):
    a = make_run(tmp_path, "a", history([0.5, 0.6, 0.7]), status="interrupted", planned=5)
    path = os.path.join(a, "metrics.csv")
    text = open(path).read()
    start = text.rindex("\n", 0, len(text) - 1) + 1
    open(path, "w").write(text[:start + 7])  # the last row cut after 7 characters
    fields = text[start:start + 7].count(",") + 1
    seen, warn = collect()
    df = compare_runs([a], on_warning=warn, by_run=True)
    assert df["epochs_done"][0] == 2 and df["best_val_accuracy"][0] == 0.6 and df["status"][0] == "interrupted"
    assert seen[0] == (path, f"line 4 has {fields} of 8 fields (the file is cut off); the line is ignored")
    assert seen[1] == (os.path.join(a, "state.json"), "the run interrupted after epoch 2 of 5")


def test_repeated_epochs_keep_the_last_row(tmp_path):
    rows = history([0.5, 0.6, 0.7])
    again = dict(rows[1], val_accuracy=0.65, val_loss=0.4)  # epoch 2 again, after a resume
    a = make_run(tmp_path, "a", rows[:2] + [again, rows[2]])
    seen, warn = collect()
    df = compare_runs([a], metric="val_loss", on_warning=warn, by_run=True)
    assert df["epochs_done"][0] == 3
    assert df["best_val_loss"][0] == 0.4 and df["best_epoch"][0] == 2
    run = load_runs([a], on_warning=lambda *_: None)[0]
    assert list(run.history["epoch"]) == [1, 2, 3]
    assert list(run.history["val_accuracy"]) == [0.5, 0.65, 0.7]
    assert seen == [(os.path.join(a, "metrics.csv"), "epoch 2 repeated (a resumed run?); the last row of each is "
                                                     "kept")]


def test_columns_missing_from_an_older_run(tmp_path):
    a = make_run(tmp_path, "a", history([0.5, 0.6]))
    old = os.path.join(tmp_path, "old")
    os.makedirs(old)
    with open(os.path.join(old, "metrics.csv"), "w") as f:
        f.write("epoch,loss,accuracy,val_loss,val_accuracy\n1,2.0,0.3,1.9,0.35\n2,1.5,0.5,1.4,0.55\n")
    seen, warn = collect()
    df = compare_runs([a, old], on_warning=warn, by_run=True)
    assert list(df["run"]) == ["a", "old"]
    row = df.set_index("run").loc["old"]
    assert row["best_val_accuracy"] == 0.55 and row["val_loss"] == 1.4 and row["accuracy"] == 0.5
    assert math.isnan(row["epoch_seconds"]) and math.isnan(row["images_per_second"])
    assert pd.isna(row["params"]) and row["status"] == "unknown" and row["arch"] == ""
    assert (os.path.join(old, "metrics.csv"), "no columns learning_rate, epoch_seconds, images_per_second (an "
            "older run?); shown as empty") in seen
    assert (os.path.join(old, "metrics.csv"), "no config.yaml beside it; its configuration is not compared") in seen
    assert render(df).splitlines()[3].split()[:3] == ["old", "2/?", "0.5500"]


def test_not_a_run_empty_csvs_and_bad_cells(tmp_path):
    make_run(tmp_path, "good", history([0.5, 0.6]))
    bad_cell = make_run(tmp_path, "bad_cell", history([0.5, 0.7]))
    path = os.path.join(bad_cell, "metrics.csv")
    lines = open(path).read().splitlines()
    cells = lines[2].split(",")
    cells[3] = "n/a"  # val_loss of epoch 2
    lines[2] = ",".join(cells)
    open(path, "w").write("\n".join(lines) + "\n")
    empty = make_run(tmp_path, "empty", [])
    open(os.path.join(empty, "metrics.csv"), "w").close()
    header_only = make_run(tmp_path, "header_only", [])
    not_a_run = tmp_path / "notes"
    not_a_run.mkdir()
    (not_a_run / "readme.txt").write_text("hello")
    seen, warn = collect()
    df = compare_runs([str(tmp_path / "*")], on_warning=warn, by_run=True)
    assert list(df["run"]) == ["bad_cell", "good"]
    row = df.set_index("run").loc["bad_cell"]
    assert math.isnan(row["val_loss"]) and row["val_accuracy"] == 0.7 and row["best_val_accuracy"] == 0.7
    assert sorted(seen) == sorted([
        (path, "not a number, read as empty: val_loss='n/a' (line 3)"),
        (os.path.join(empty, "metrics.csv"), "empty file; skipped"),
        (os.path.join(header_only, "metrics.csv"), "no epochs recorded; skipped"),
        (str(not_a_run), "not a run directory (no metrics.csv); skipped"),
    ])


def test_bare_csv_files_and_globs(tmp_path):
    a = make_run(tmp_path, "a", history([0.5]))
    make_run(tmp_path, "b", history([0.6]), sets={"recipe.seed": 2})
    loose = tmp_path / "exported.csv"
    shutil.copy(os.path.join(a, "metrics.csv"), loose)
    seen, warn = collect()
    df = compare_runs([os.path.join(a, "metrics.csv"), os.path.join(str(tmp_path), "[b]"), str(loose),
                       str(tmp_path / "nothing*")], on_warning=warn, by_run=True)
    assert list(df["run"]) == ["b", "a", "exported"]
    assert list(df["status"]) == ["finished", "finished", "unknown"]
    assert df["recipe.seed"][0] == 2 and df["recipe.seed"][1] == 1 and pd.isna(df["recipe.seed"][2])
    assert (str(tmp_path / "nothing*"), "matches nothing") in seen
    assert any(f == str(loose) and "not named metrics.csv" in m for f, m in seen)
    # the same run named twice is shown once
    assert list(compare_runs([a, os.path.join(a, "metrics.csv")], on_warning=warn, by_run=True)["run"]) == ["a"]


@pytest.mark.e2e
def test_cli_warns_and_exits_2_only_when_nothing_can_be_read(tmp_path):
    a = make_run(tmp_path, "a", history([0.5, 0.6]))
    (tmp_path / "junk").mkdir()
    r = cli("compare", a, tmp_path / "junk", "--format", "csv", "--by-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].startswith("a,tiny,2,3,0.6,2,")
    assert r.stderr.splitlines() == [f"warning: {tmp_path / 'junk'}: not a run directory (no metrics.csv); skipped"]

    r = cli("compare", tmp_path / "junk", tmp_path / "missing")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines()[-1].startswith("error: no run could be read from")
    assert f"warning: {tmp_path / 'missing'}: no such file or directory" in r.stderr
    assert "Traceback" not in r.stderr

    r = cli("compare", a, "--metric", "val_acc")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "error: --metric val_acc: no run records it; the runs record: loss, accuracy, val_loss" in r.stderr

    r = cli("compare", a, "--plot", tmp_path / "curves.pdf")
    assert r.returncode == 2 and "name a file ending in .png" in r.stderr and r.stdout == ""
    r = cli("compare", a, "--plot", tmp_path / "no" / "dir" / "curves.png")
    assert r.returncode == 2 and "dir does not exist" in r.stderr and "Traceback" not in r.stderr


def test_api_raises_config_error_when_nothing_can_be_read(tmp_path):
    with pytest.raises(ConfigError, match="no run could be read"):
        compare_runs([str(tmp_path)], on_warning=lambda *_: None)


# ----------------------------------------------------------------------------- real runs and the plot


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    """Two real tiny trainings that differ in the learning rate and the batch size, and an interrupted copy."""
    tmp = tmp_path_factory.mktemp("real")
    data = write_bars(str(tmp / "data"))
    (tmp / "tiny.yaml").write_text(TINY_ARCH)
    (tmp / "recipe.yaml").write_text(TINY_RECIPE.replace("DATA", data))
    out = {}
    for name, sets in (("slow", ["optimizer.learning_rate=0.005"]), ("fast", ["batch_size=16"])):
        run_dir = tmp / "runs" / name
        r = cli("train", "--arch", tmp / "tiny.yaml", "--recipe", tmp / "recipe.yaml", "--run-dir", run_dir,
                "--set", "epochs=2", *[x for s in sets for x in ("--set", s)])
        assert r.returncode == 0, r.stderr
        out[name] = str(run_dir)
    # an interrupted run as the trainer leaves it: state "running", the lock free, one epoch in the CSV
    cut = tmp / "runs" / "cut"
    shutil.copytree(out["slow"], cut)
    rows = list(csv.DictReader(open(cut / "metrics.csv")))
    runs.write_metrics(str(cut), rows[:1])
    runs.write_state(str(cut), status="running", epochs_done=1)
    out["cut"] = str(cut)
    out["root"] = str(tmp / "runs")
    return out


def _expected(run_dir):
    rows = list(csv.DictReader(open(os.path.join(run_dir, "metrics.csv"))))
    state = json.load(open(os.path.join(run_dir, "state.json")))
    va = [float(r["val_accuracy"]) for r in rows]
    best = int(np.argmax(va))
    return {"best_val_accuracy": va[best], "best_epoch": int(rows[best]["epoch"]),
            "val_loss": float(rows[-1]["val_loss"]), "val_accuracy": va[-1], "accuracy": float(rows[-1]["accuracy"]),
            "epoch_seconds": np.mean([float(r["epoch_seconds"]) for r in rows]),
            "images_per_second": np.mean([float(r["images_per_second"]) for r in rows]),
            "params": state["params"], "epochs_done": len(rows), "epochs_planned": state["epochs"]}


@pytest.mark.e2e
def test_real_runs_table_and_plot(real_runs, tmp_path):
    png = tmp_path / "curves.png"
    r = cli("compare", os.path.join(real_runs["root"], "*"), "--format", "csv", "--plot", png, "--by-run")
    assert r.returncode == 0, r.stderr
    table = list(csv.DictReader(io.StringIO(r.stdout)))
    expected = {name: _expected(real_runs[name]) for name in ("slow", "fast", "cut")}
    order = sorted(expected, key=lambda n: (-expected[n]["best_val_accuracy"], ["cut", "fast", "slow"].index(n)))
    assert [row["run"] for row in table] == order
    assert list(table[0]) == ["run", "arch", "epochs_done", "epochs_planned", "best_val_accuracy", "best_epoch",
                              "val_loss", "val_accuracy", "accuracy", "epoch_seconds", "images_per_second", "params",
                              "status", "recipe.batch_size", "recipe.optimizer.learning_rate"]
    for row in table:
        exp = expected[row["run"]]
        for key, value in exp.items():
            assert float(row[key]) == pytest.approx(value, rel=1e-5), (row["run"], key)
        assert row["arch"] == "tiny"
    by = {row["run"]: row for row in table}
    assert by["slow"]["status"] == by["fast"]["status"] == "finished" and by["cut"]["status"] == "interrupted"
    assert (by["slow"]["recipe.optimizer.learning_rate"], by["fast"]["recipe.optimizer.learning_rate"]) == \
        ("0.005", "0.01")
    assert (by["slow"]["recipe.batch_size"], by["fast"]["recipe.batch_size"], by["cut"]["recipe.batch_size"]) == \
        ("32", "16", "32")
    assert r.stderr.splitlines()[:2] == [
        f"warning: {os.path.join(real_runs['cut'], 'state.json')}: says running, but no process holds the run's "
        "lock: the training stopped without recording it; shown as interrupted",
        f"warning: {os.path.join(real_runs['cut'], 'state.json')}: the run interrupted after epoch 1 of 2"]

    from PIL import Image

    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (1200, 500)
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    colours = {tuple(int(round(255 * c)) for c in rgba[:3]) for rgba in run_colours(3)}
    present = {tuple(p) for p in np.unique(pixels, axis=0)}
    assert colours <= present  # every run's line is drawn
    assert (pixels == 255).all(axis=1).mean() > 0.5  # mostly white background, not a blank or black image


@pytest.mark.e2e
def test_real_runs_grouped(real_runs, tmp_path):
    """`cut` is a copy of `slow` cut after epoch 1: the same configuration, so one group with it."""
    png = tmp_path / "groups.png"
    r = cli("compare", os.path.join(real_runs["root"], "*"), "--format", "csv", "--plot", png, "--band", "sd")
    assert r.returncode == 0, r.stderr
    table = {row["group"]: row for row in csv.DictReader(io.StringIO(r.stdout))}
    assert set(table) == {"fast", "cut +1"}  # no common beginning or end of the names: the first name, +1
    slow, cut = (_expected(real_runs[n]) for n in ("slow", "cut"))
    pair = table["cut +1"]
    assert pair["n"] == "2" and pair["runs"] == "[cut, slow]" and pair["epochs_done"] == "1"
    assert pair["status"] == "1 interrupted, 1 finished"
    first = [float(list(csv.DictReader(open(os.path.join(real_runs[n], "metrics.csv"))))[0]["val_accuracy"])
             for n in ("slow", "cut")]
    assert float(pair["val_accuracy_mean"]) == pytest.approx(np.mean(first), rel=1e-5)
    assert float(table["fast"]["best_val_accuracy_mean"]) == pytest.approx(_expected(real_runs["fast"])[
        "best_val_accuracy"], rel=1e-5)
    assert table["fast"]["val_accuracy_sd"] == "" and table["fast"]["n"] == "1"
    assert slow["epochs_done"] == 2 and cut["epochs_done"] == 1
    from PIL import Image

    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (1200, 500)


@pytest.mark.e2e
def test_plot_api_from_paths(real_runs, tmp_path):
    out = plot_runs([real_runs["slow"], real_runs["fast"]], str(tmp_path / "two.png"))
    from PIL import Image

    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (1200, 500)
        pixels = {tuple(p) for p in np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)}
    c0, c1, c2 = [tuple(int(round(255 * c)) for c in rgba[:3]) for rgba in run_colours(3)]
    assert c0 in pixels and c1 in pixels and c2 not in pixels


def test_seconds_are_better_low_and_long_values_are_shortened_in_the_text_table(tmp_path):
    a = make_run(tmp_path, "a", history([0.5], seconds=(2.0,)))
    long_path = "/data/" + "fashion-mnist-" * 5
    b = make_run(tmp_path, "b", history([0.6], seconds=(1.0,)), sets={"recipe.dataset.path": long_path})
    df = compare_runs([a, b], metric="epoch_seconds", on_warning=lambda *_: None, by_run=True)
    assert list(df["run"]) == ["b", "a"] and list(df["best_epoch_seconds"]) == [1.0, 2.0]
    table = render(df, "epoch_seconds", "table").splitlines()
    cell = table[2].split("  ")[-1]
    assert len(cell) == 40 and cell.endswith("...") and cell.startswith("/data/fashion-mnist-")
    rows = list(csv.DictReader(io.StringIO(render(df, "epoch_seconds", "csv"))))
    assert rows[0]["recipe.dataset.path"] == long_path  # CSV keeps the whole value


def test_differing_stages_show_the_layer_and_key_that_differ(tmp_path):
    a = make_run(tmp_path, "a", history([0.5]))
    wider = [{"conv": {"filters": 16, "kernel": 3, "stride": 2}}, {"conv": {"filters": 8, "kernel": 1}}]
    b = make_run(tmp_path, "b", history([0.6]), sets={"arch.stages.s1": wider})
    df = compare_runs([a, b], on_warning=lambda *_: None, by_run=True)
    keys = [c for c in df.columns if c not in SUMMARY]
    assert keys == ["arch.stages.s1[0].conv.filters", "arch.stages.s1[1]"]  # a key, and a layer only b has
    assert list(df[keys[0]]) == [16, 8]
    assert df[keys[1]][0] == "conv" and pd.isna(df[keys[1]][1])
    assert max(len(line) for line in render(df).splitlines()) < 250


# ----------------------------------------------------------------------------- one owner per concept


def test_one_reader_one_status_one_diff(tmp_path):
    """compare and --recover read metrics.csv by one rule; compare and sweep decide a run's status by one rule;
    configurations compare by one rule (a bool is never a number, a list is a tuple)."""
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss\n1,2\n1,1.5\n2,abc\n3")  # a repeated epoch, a cell that is not a number, a cut line
    assert runs.read_metric_rows(str(path)) == [{"epoch": 1, "loss": 1.5}, {"epoch": 2, "loss": None}]
    assert list(runs.read_metrics(str(path))["epoch"]) == [1, 2]
    seen, warn = collect()
    run_dir = str(tmp_path)
    assert runs.run_status(run_dir, {"status": "running"}, warn) == "interrupted" and len(seen) == 1
    assert runs.run_status(run_dir, {"status": "finished"}) == "finished" and runs.run_status(run_dir, None) is None
    with runs.RunLock(run_dir):
        assert runs.run_status(run_dir, {"status": "interrupted"}) == "running"
    assert runs.same_config({"a": (1, 2)}, {"a": [1, 2.0]}) and not runs.same_value(True, 1)
    assert runs.differing_keys({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}) == ["a.c"]


def test_side_files_that_are_not_mappings_are_warnings(tmp_path):
    """A config.yaml holding a list and a state.json holding a list: the run is still compared, each file named in
    a warning saying what it holds and what is lost; a state.json that is not JSON says so too."""
    a = make_run(tmp_path, "a", history([0.5]))
    open(os.path.join(a, "config.yaml"), "w").write("- just\n- a list\n")
    open(os.path.join(a, "state.json"), "w").write("[1, 2]")
    b = make_run(tmp_path, "b", history([0.6]))
    open(os.path.join(b, "state.json"), "w").write("{not json")
    seen, warn = collect()
    df = compare_runs([a, b], on_warning=warn, by_run=True)
    assert list(df["run"]) == ["b", "a"] and list(df["status"]) == ["unknown", "unknown"]
    messages = {(os.path.basename(os.path.dirname(f)), os.path.basename(f)): m for f, m in seen}
    assert messages[("a", "config.yaml")].endswith("found a list; its configuration is not compared")
    assert messages[("a", "state.json")] == "expected a JSON object, found list [1, 2]; status unknown"
    assert messages[("b", "state.json")].endswith("; status unknown")

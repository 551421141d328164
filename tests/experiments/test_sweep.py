"""`inception-keras sweep`: the grid, its points and run directories, a real sweep killed and resumed, one point
by --index or JOB_COMPLETION_INDEX, and bad grids (exit 2 naming the point)."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, TINY_RECIPE, cli, write_bars

from inception_keras import runs
from inception_keras.engine.plan import TrainOptions
from inception_keras.errors import ConfigError
from inception_keras.experiments.grid import make_sweep, parse_grid, split_values, value_text


def epochs(run_dir) -> list[int]:
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def status(run_dir) -> str:
    return json.load(open(os.path.join(run_dir, "state.json")))["status"]


# ----------------------------------------------------------------------------- the grid (no TensorFlow)


def test_values_split_on_top_level_commas_and_ranges():
    assert split_values("0,[64,64,1],{a: 1, b: 2},'x,y',\"p,q\"") == ["0", "[64,64,1]", "{a: 1, b: 2}", "'x,y'",
                                                                     '"p,q"']
    fixed, axes = parse_grid(["seed=0..3", "arch.input=[64,64,1]", "optimizer.learning_rate=0.05,1e-1",
                              "arch.input_x=[8,8,1],[16,16,1]", "name='a,b',c", "epochs=2..2"])
    assert fixed == ["arch.input=[64, 64, 1]"]
    assert [(a.key, a.values) for a in axes] == [
        ("seed", (0, 1, 2, 3)), ("optimizer.learning_rate", (0.05, 0.1)),
        ("arch.input_x", ([8, 8, 1], [16, 16, 1])), ("name", ("a,b", "c")), ("epochs", (2,))]
    # every value's text reads back as one value of a grid
    for value in (0.05, [64, 64, 1], "a,b", "0..3", "plain", True, None, {"a": [1, 2]}):
        assert parse_grid([f"k={value_text(value)},other"])[1][0].values == (value, "other")


@pytest.mark.parametrize("items,message", [
    ([], "the grid is empty: give at least one --set with several values"),
    (["epochs=2"], "the grid is empty"),
    (["seed="], "--set seed=: no values"),
    (["seed=3..1"], "--set seed=3..1: the range 3..1 is empty (write it low..high)"),
    (["seed=1,,2"], "--set seed=1,,2: an empty value between commas"),
    (["seed=1,1.0"], "--set seed=1,1.0: the value 1.0 is given twice"),
    (["seed=1,2", "seed=3"], "--set seed: given twice"),
    (["seed=1,[2"], "--set seed=1,[2: cannot read the value '[2'"),
    (["seed"], "--set: expected KEY=VALUE or KEY=V1,V2,..., got 'seed'"),
])
def test_bad_grids(tiny, items, message):
    with pytest.raises(ConfigError) as info:
        make_sweep(items, TrainOptions(tiny["arch"], tiny["recipe"]))
    assert message in str(info.value)


def test_points_directories_and_the_default_sweep_directory(tiny):
    options = TrainOptions(tiny["arch"], tiny["recipe"], runs_root=str(tiny["tmp"] / "runs"))
    sweep = make_sweep(["seed=1,2", "optimizer.learning_rate=0.01,0.02", "epochs=2"], options)
    assert [p.label for p in sweep.points] == [
        "seed=1,optimizer.learning_rate=0.01", "seed=1,optimizer.learning_rate=0.02",
        "seed=2,optimizer.learning_rate=0.01", "seed=2,optimizer.learning_rate=0.02"]  # the last --set fastest
    assert [os.path.basename(p.run_dir) for p in sweep.points] == [
        "seed=1,learning_rate=0.01", "seed=1,learning_rate=0.02", "seed=2,learning_rate=0.01",
        "seed=2,learning_rate=0.02"]
    assert os.path.dirname(sweep.directory) == str(tiny["tmp"] / "runs")
    assert os.path.basename(sweep.directory).startswith("sweep-tiny-tiny-seed+learning_rate-")
    assert [(p.config["recipe"]["seed"], p.config["recipe"]["optimizer"]["learning_rate"], p.config["recipe"]["epochs"])
            for p in sweep.points] == [(1, 0.01, 2), (1, 0.02, 2), (2, 0.01, 2), (2, 0.02, 2)]
    # the same command finds the same directory; more values of the same keys too; other fixed values do not
    assert make_sweep(["seed=1,2", "optimizer.learning_rate=0.01,0.02", "epochs=2"], options).directory == \
        sweep.directory
    more = make_sweep(["seed=1..4", "optimizer.learning_rate=0.01,0.02", "epochs=2"], options)
    assert more.directory == sweep.directory and len(more.points) == 8
    assert make_sweep(["seed=1,2", "optimizer.learning_rate=0.01,0.02", "epochs=3"], options).directory != \
        sweep.directory
    assert make_sweep(["seed=1,2"], options).directory != sweep.directory
    lists = make_sweep(["arch.input=[16,16,1],[20,20,1]"], options, directory="d")
    assert [p.run_dir for p in lists.points] == ["d/input=16_16_1", "d/input=20_20_1"]
    assert [p.config["arch"]["input"] for p in lists.points] == [[16, 16, 1], [20, 20, 1]]


@pytest.mark.e2e
def test_cli_bad_grids_exit_2_naming_the_point(tiny):
    base = ["sweep", "--arch", tiny["arch"], "--recipe", tiny["recipe"], "--runs-root", tiny["tmp"] / "runs"]
    r = cli(*base, "--set", "optimizer.learning_rate=0.1,-1")
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: sweep point 1 (optimizer.learning_rate=-1): ")
    assert "optimizer.learning_rate: expected a number > 0, got -1" in r.stderr
    r = cli(*base, "--set", "seed=1,2", "--set", "optimizer.lr=0.1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[0] == "error: 2 of 2 sweep points are not valid:"
    assert r.stderr.splitlines()[1].startswith("sweep point 0 (seed=1): ")
    assert "optimizer.lr: unknown key 'lr' in optimizer; did you mean 'learning_rate'?" in r.stderr
    r = cli(*base)
    assert r.returncode == 2 and r.stderr.startswith("error: the grid is empty")
    r = cli(*base, "--set", "seed=1,2", "--index", "2")
    assert r.returncode == 2 and r.stderr.strip() == "error: --index 2: the sweep has 2 points (0..1)"
    r = cli(*base, "--set", "seed=1,2", env={"JOB_COMPLETION_INDEX": "x"})
    assert r.returncode == 2 and r.stderr.strip() == \
        "error: JOB_COMPLETION_INDEX=x: expected a point index (an integer >= 0)"
    r = cli(*base, "--set", "seed=1,2", env={"JOB_COMPLETION_INDEX": "9"})
    assert r.returncode == 2 and "JOB_COMPLETION_INDEX 9: the sweep has 2 points" in r.stderr
    assert not (tiny["tmp"] / "runs").exists()  # nothing was written


# ----------------------------------------------------------------------------- real sweeps


@pytest.mark.e2e
def test_index_and_job_completion_index_run_one_point(tiny):
    base = ["sweep", "--arch", tiny["arch"], "--recipe", tiny["recipe"], "--sweep-dir", tiny["tmp"] / "sw",
            "--set", "seed=1,2", "--set", "epochs=1", "--limit", "64"]
    r = cli(*base, env={"JOB_COMPLETION_INDEX": "1"})  # a Kubernetes Indexed Job's pod 1
    assert r.returncode == 0, r.stderr
    one, two = tiny["tmp"] / "sw" / "seed=1", tiny["tmp"] / "sw" / "seed=2"
    assert not one.exists() and status(two) == "finished" and epochs(two) == [1]
    assert "sweep point 1 of 2 (seed=2)" in r.stdout
    assert json.load(open(two / "env.json"))["command"][1] == "sweep"
    listed = cli(*base, "--list").stdout.splitlines()
    assert listed[0] == f"sweep {tiny['tmp'] / 'sw'}: 2 points, axes seed (2)"
    assert listed[2].split()[:4] == ["0", "new", "0/1", "seed=1"]
    assert listed[3].split()[:4] == ["1", "finished", "1/1", "seed=2"] and listed[3].endswith(str(two))
    r = cli(*base, "--index", "1", env={"JOB_COMPLETION_INDEX": "0"})  # --index wins; finished: nothing to do
    assert r.returncode == 0 and "finished already" in r.stdout and not one.exists()


def run_until_point(args, run_dir, env, log):
    """Start a sweep, SIGKILL it once `run_dir` (a point) has a committed epoch."""
    out = open(log, "w")
    proc = subprocess.Popen([sys.executable, "-m", "inception_keras", *map(str, args)], env=env, stdout=out,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    path = os.path.join(run_dir, "metrics.csv")
    while not (os.path.exists(path) and epochs(run_dir)):
        assert proc.poll() is None and time.time() < deadline, open(out.name).read()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    out.close()


@pytest.mark.e2e
def test_sweep_killed_and_resumed_finishes_every_point_once(tiny):
    """2 seeds x 2 learning rates: SIGKILL the sweep while it trains its second point, run the same command again:
    four finished runs with each epoch once, the finished point not trained again, two groups of n = 2."""
    data = write_bars(str(tiny["tmp"] / "more"), n_train=2000, n_test=100)
    recipe = tiny["tmp"] / "more.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", data))
    sweep_dir = tiny["tmp"] / "sweep"
    args = ["sweep", "--arch", tiny["arch"], "--recipe", recipe, "--sweep-dir", sweep_dir, "--set", "seed=1,2",
            "--set", "optimizer.learning_rate=0.01,0.02", "--set", "epochs=3"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    names = ["seed=1,learning_rate=0.01", "seed=1,learning_rate=0.02", "seed=2,learning_rate=0.01",
             "seed=2,learning_rate=0.02"]
    points = [str(sweep_dir / n) for n in names]
    run_until_point(args, points[1], env, tiny["tmp"] / "first.log")
    assert status(points[0]) == "finished" and not os.path.exists(points[2])
    # the point's trainer died with the sweep: nothing holds its lock (else the same command could not resume it)
    deadline = time.time() + 30
    while runs.is_locked(points[1]) and time.time() < deadline:
        time.sleep(0.1)
    assert not runs.is_locked(points[1])
    assert status(points[1]) == "running" and 1 <= len(epochs(points[1])) < 3
    first_env = open(os.path.join(points[0], "env.json")).read()

    r = cli(*args)
    assert r.returncode == 0, r.stderr
    assert "sweep point 0 of 4 (seed=1,optimizer.learning_rate=0.01): finished already, skipped" in r.stdout
    assert r.stdout.count("resuming after epoch") == 1
    for p in points:
        assert status(p) == "finished" and epochs(p) == [1, 2, 3], p
    assert open(os.path.join(points[0], "env.json")).read() == first_env  # trained once, not again
    sessions = [len(json.load(open(os.path.join(p, "env.json"))).get("previous_sessions", [])) for p in points]
    assert sessions == [0, 1, 0, 0]  # only the killed point ran twice: once cut, once resumed
    table = r.stdout[r.stdout.index("grouped by everything but the seed:"):].splitlines()[1:]
    assert table[0].split()[:4] == ["group", "arch", "n", "seeds"]
    rows = [line.split() for line in table[2:]]
    assert len(rows) == 2
    assert sorted(row[0] for row in rows) == ["seed=*,learning_rate=0.01", "seed=*,learning_rate=0.02"]
    assert all(row[2] == "2" and row[3] == "1,2" and row[4] == "3/3" for row in rows)
    # the same numbers as compare gives for the four run directories
    r2 = cli("compare", *points, "--format", "csv")
    groups = {row["group"]: row for row in csv.DictReader(r2.stdout.splitlines())}
    for row in rows:
        g = groups[row[0]]
        assert row[5] == f"{float(g['val_accuracy_mean']):.4f}" and row[7] == f"{float(g['val_accuracy_sd']):.4f}"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.e2e
def test_sigterm_to_the_sweep_stops_the_point_cleanly(tiny, signum):
    """docker stop / Ctrl-C reach the sweep: the point in progress keeps its last epoch, the sweep ends (143, 130)."""
    sweep_dir = tiny["tmp"] / "term"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "inception_keras", "sweep", "--arch", tiny["arch"], "--recipe",
                             tiny["recipe"], "--set", "seed=1,2", "--set", "epochs=50", "--sweep-dir", sweep_dir],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = sweep_dir / "seed=1"
    deadline = time.time() + 300
    while not ((first / "metrics.csv").exists() and epochs(first)):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[0]
        time.sleep(0.02)
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, out
    assert f"{signal.Signals(signum).name}: stopped" in out and "Traceback" not in out
    assert status(first) == "interrupted" and 1 <= len(epochs(first)) < 50
    assert not (sweep_dir / "seed=2").exists()  # the sweep ended; the next point never started


@pytest.mark.e2e
def test_a_failed_point_is_reported_and_the_others_run_exit_1(tiny):
    """docs/sweeps.md: a point that does not finish (here one another process is training: this test holds its
    lock) is reported by index, values and run directory; the other points still run; the exit status is 1."""
    import fcntl

    sweep_dir = tiny["tmp"] / "failing"
    busy = sweep_dir / "seed=1"
    busy.mkdir(parents=True)
    fd = os.open(busy / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = cli("sweep", "--arch", tiny["arch"], "--recipe", tiny["recipe"], "--set", "seed=1,2", "--set", "epochs=1",
                "--sweep-dir", sweep_dir)
    finally:
        os.close(fd)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"sweep point 0 of 2 (seed=1): another process is training it in {busy}; skipped" in r.stdout
    assert r.stderr.splitlines() == ["error: 1 of 2 sweep points did not finish:",
                                     f"  point 0 (seed=1): another process is training it in {busy}",
                                     "run the same command again to resume them"]
    assert status(sweep_dir / "seed=2") == "finished" and epochs(sweep_dir / "seed=2") == [1]
    assert not (busy / "metrics.csv").exists()

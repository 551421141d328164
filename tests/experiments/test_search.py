"""`inception-keras search`: the search file (errors with file and line), a real study of seed groups killed by
SIGKILL and resumed (every trial complete once, objectives = the groups' means from the CSVs), two processes on
one study, the pruner reading the group's per-epoch rows, --report and its picture, compare on a study."""
from __future__ import annotations

import csv
import os
import signal
import statistics
import subprocess
import sys
import time

import optuna
import pytest
from conftest import ROOT, cli

from inception_keras import runs
from inception_keras.engine.plan import TrainOptions
from inception_keras.errors import ConfigError
from inception_keras.experiments.search import make_search, open_study
from inception_keras.experiments.trial import _Pruning
from inception_keras.lang.search import load_search

SPACE = """\
trials: {trials}
seeds: {seeds}
metric: val_accuracy
sampler: {{name: random, seed: 0}}
fixed: {{epochs: {epochs}}}
space:
  optimizer.learning_rate: {{log_uniform: [0.002, 0.05]}}
"""


def last_values(run_dir: str, metric: str = "val_accuracy") -> tuple[int, float]:
    """(last epoch, its metric) read with the csv module, independently of the project's readers."""
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    return int(rows[-1]["epoch"]), float(rows[-1][metric])


def epochs_of(run_dir: str) -> list[int]:
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def write_space(tmp_path, name="space.yaml", **kw) -> str:
    path = tmp_path / name
    path.write_text(SPACE.format(**{"trials": 3, "seeds": 2, "epochs": 2, **kw}))
    return str(path)


def search_argv(tiny, space: str, directory: str) -> list[str]:
    return ["search", space, "--arch", tiny["arch"], "--recipe", tiny["recipe"], "--search-dir", directory]


# ----------------------------------------------------------------------------- the file (no TensorFlow)


@pytest.mark.parametrize("text,message", [
    ("seeds: 2\nspace: {lr: {uniform: [0, 1]}}\n", "s.yaml:1:1: trials: expected the number of trials"),
    ("trials: 2\nspace:\n  optimizer.learning_rate: {log_uniform: [0, 1]}\n",
     "s.yaml:3:42: space.optimizer.learning_rate.log_uniform: a log-uniform range must be above 0, got low 0"),
    ("trials: 2\nspace:\n  batch_size: {int: [64, 32]}\n",
     "s.yaml:3:21: space.batch_size.int: expected low < high, got [64, 32]"),
    ("trials: 2\nspace:\n  arch.width: {choice: [[1, 2], 3]}\n",
     "space.arch.width.choice: the choices must be numbers, strings, true/false or null"),
    ("trials: 2\nspace:\n  seed: {int: [0, 9]}\n", "s.yaml:3:3: space.seed: is also fixed (or is the seed"),
    ("trials: 2\npruner: hyperband\nspace:\n  epochs: {int: [1, 3]}\n", "s.yaml:2:9: pruner: expected one of none, "
                                                                       "median"),
    ("trials: 2\nspace:\n  epochs: {normal: [1, 3]}\n", "space.epochs: expected one distribution"),
    ("trials: 2\nsapce: {}\n", "s.yaml:2:1: sapce: unknown key"),
])
def test_a_bad_search_file_names_file_path_and_line(tmp_path, text, message):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_search(str(path))
    assert message in str(info.value).replace(str(tmp_path) + os.sep, "")


@pytest.mark.e2e
def test_a_key_the_recipe_does_not_have_is_refused_before_training(tiny, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("trials: 2\nspace:\n  optimizer.learning_rat: {uniform: [0.01, 0.1]}\n")
    r = cli(*search_argv(tiny, str(path), str(tmp_path / "s")))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "the trial optimizer.learning_rat=0.01 is not valid" in r.stderr and "learning_rat" in r.stderr
    assert not os.path.exists(tmp_path / "s")


# ----------------------------------------------------------------------------- pruning reads the group's rows


def test_the_pruner_reads_the_mean_of_the_groups_rows_at_each_epoch(tmp_path):
    """Two finished trials; a group of two seeds is reported only at epochs both seeds have, its mean there,
    and pruned when (Optuna's median rule) its best mean so far is below the others' median at that epoch."""
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    for curve in ((0.5, 0.85, 0.9), (0.5, 0.95, 0.95)):
        t = study.ask()
        for epoch, value in enumerate(curve, 1):
            t.report(value, epoch)
        study.tell(t, curve[-1])
    dirs = [str(tmp_path / f"seed={s}") for s in (0, 1)]
    for d in dirs:
        os.makedirs(d)
    trial = study.ask()
    pruning = _Pruning(trial, "val_accuracy", dirs)
    runs.write_metrics(dirs[0], [{"epoch": 1, "val_accuracy": 0.6}, {"epoch": 2, "val_accuracy": 0.2}])
    assert not pruning.pruned() and pruning.reported == 0  # seed 1 has no epoch yet: nothing reported
    runs.write_metrics(dirs[1], [{"epoch": 1, "val_accuracy": 0.7}])
    assert not pruning.pruned() and pruning.reported == 1  # the mean 0.65 at epoch 1 is above the median 0.5
    runs.write_metrics(dirs[1], [{"epoch": 1, "val_accuracy": 0.7}, {"epoch": 2, "val_accuracy": 0.3}])
    assert pruning.pruned() and pruning.reported == 2  # 0.65 (best so far) below the median 0.9 at epoch 2
    assert study.trials[2].intermediate_values == {1: pytest.approx(0.65), 2: pytest.approx(0.25)}


# ----------------------------------------------------------------------------- a real study, killed and resumed


def start(argv: list[str], env: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "inception_keras", *argv], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.e2e
def test_a_study_killed_and_resumed_has_every_trial_complete_once(tiny, tmp_path):
    space = write_space(tmp_path)
    directory = str(tmp_path / "study")
    proc = start(search_argv(tiny, space, directory))
    target = os.path.join(directory, "trial-0001", "seed=0", "metrics.csv")
    deadline = time.time() + 300
    while not os.path.exists(target) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[0]
    proc.send_signal(signal.SIGKILL)  # the search and (PR_SET_PDEATHSIG) its trainers
    proc.communicate()
    r = cli(*search_argv(tiny, space, directory), "--plot", str(tmp_path / "study.png"))
    assert r.returncode == 0, r.stderr
    assert "trial 1 (trial-0001) was left running by a worker that is gone; queued again" in r.stdout

    search = make_search(space, TrainOptions(tiny["arch"], tiny["recipe"]), directory)
    study = open_study(search, create=False)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    # trial 1, killed, failed and queued again as trial 2 in its directory; trial 3 the third group
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert [t.user_attrs["dir"] for t in complete] == ["trial-0000", "trial-0001", "trial-0003"]
    assert study.trials[2].params == study.trials[1].params and study.trials[2].user_attrs["retry_of"] == 1
    for t in complete:
        group = [os.path.join(directory, t.user_attrs["dir"], f"seed={s}") for s in (0, 1)]
        values = [last_values(d) for d in group]
        assert [e for e, _ in values] == [2, 2] and all(epochs_of(d) == [1, 2] for d in group)
        assert all(runs.is_finished(d) for d in group)
        assert t.value == pytest.approx(statistics.mean(v for _, v in values), abs=1e-12)
        assert t.user_attrs["sd"] == pytest.approx(statistics.stdev(v for _, v in values), abs=1e-12)
        assert t.user_attrs["n"] == 2
        lr = float(runs.read_config(group[0])["recipe"]["optimizer"]["learning_rate"])
        assert lr == pytest.approx(t.params["optimizer.learning_rate"], rel=1e-12)
    assert (tmp_path / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # --report: best first, the best trial's flags; compare reads the study's runs as three seed groups
    r = cli(*search_argv(tiny, space, directory), "--report")
    lines = r.stdout.splitlines()
    table = [line.split()[0] for line in lines[2:5]]
    best = max(complete, key=lambda t: t.value)
    assert table == [str(t.number) for t in sorted(complete, key=lambda t: -t.value)]
    assert f"--set epochs=2 --set optimizer.learning_rate={best.params['optimizer.learning_rate']!r}" in r.stdout
    r = cli("compare", directory, "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert [row.split(",")[0] for row in r.stdout.splitlines()[1:]] == [
        os.path.join(directory, t.user_attrs["dir"], "seed=*") for t in sorted(complete, key=lambda t: -t.value)]


@pytest.mark.e2e
def test_two_processes_on_one_study_run_no_trial_twice(tiny, tmp_path, monkeypatch):
    space = write_space(tmp_path, trials=3, seeds=1, epochs=1)
    directory = str(tmp_path / "study")
    env = {"MLFLOW_TRACKING_URI": "file:" + str(tmp_path / "mlruns")}
    procs = [start(search_argv(tiny, space, directory) + ["--mlflow"], env) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    started = [[line.split("(")[1].split(")")[0] for line in out.splitlines() if line.startswith("search: trial")
                and "(trial-" in line] for out in outputs]
    assert sorted(started[0] + started[1]) == ["trial-0000", "trial-0001", "trial-0002"]  # each once, in one
    study = open_study(make_search(space, TrainOptions(tiny["arch"], tiny["recipe"]), directory), create=False)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    for t in study.trials:
        run_dir = os.path.join(directory, t.user_attrs["dir"], "seed=0")
        assert epochs_of(run_dir) == [1]
        assert t.value == pytest.approx(last_values(run_dir)[1], abs=1e-12)
    # --mlflow: each trial's run logged once, by the worker that ran it, into $MLFLOW_TRACKING_URI's store
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.MlflowClient("file:" + str(tmp_path / "mlruns"))
    logged = client.search_runs([client.get_experiment_by_name("search-study").experiment_id])
    assert sorted(r.data.tags["inception_keras.trial"] for r in logged) == ["trial-0000", "trial-0001", "trial-0002"]

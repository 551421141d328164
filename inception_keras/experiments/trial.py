"""One trial of a search: its seeds trained as ordinary runs in child processes (`inception-keras train
--run-dir <trial>/seed=S`), the group's per-epoch means reported to Optuna's pruner, the group's mean at the
last epoch every seed has a value for told as the objective (its sd and n stored as user attributes): compare's
seed-group statistic (experiments.points.group_value), the number `inception-keras compare` prints for the seeds.

The seeds of a trial train at the same time (`parallel` at most, default all), so the pruner sees the group's
mean at an epoch as soon as every seed has that epoch, and a pruned trial stops all its seeds at once. A seed
whose run is finished already (a resumed trial) is not trained again; an interrupted one continues after its
last committed epoch (train's own resume).
"""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

from inception_keras import runs
from inception_keras.compare.group import seed_stats
from inception_keras.errors import Interrupted
from inception_keras.experiments.points import group_value
from inception_keras.experiments.sweep import child_env, die_with_parent

POLL_SECONDS = 0.5


def group_values(run_dirs: list[str], metric: str) -> dict[int, list[float]]:
    """{epoch: [the metric of every run that has that epoch]} from the runs' metrics.csv."""
    out: dict[int, list[float]] = {}
    for d in run_dirs:
        path = os.path.join(d, runs.METRICS)
        rows = runs.read_metric_rows(path) if os.path.exists(path) else []
        for row in rows:
            value = row.get(metric)
            if value is not None:
                out.setdefault(row["epoch"], []).append(float(value))
    return out


def _child_args(search, params: dict, seed: int, run_dir: str) -> list[str]:
    o = search.options
    argv = ["train", "--arch", o.arch, "--recipe", o.recipe, "--run-dir", run_dir]
    for s in search.trial_sets(params, seed):
        argv += ["--set", s]
    for flag, value in (("--limit", o.limit), ("--data-dir", o.data_dir), ("--strategy", o.strategy)):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def _start(search, params: dict, seed: int, run_dir: str, log_path: str):
    log = open(log_path, "ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "inception_keras", *_child_args(search, params, seed, run_dir)],
                                env=child_env(), stdout=log, stderr=subprocess.STDOUT, process_group=0,
                                preexec_fn=die_with_parent(os.getpid()))
    finally:
        log.close()


def _stop(procs: dict) -> None:
    """SIGTERM to every child still training (each keeps its last committed epoch), then wait for them."""
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class _Pruning:
    """Reports the group's mean at each epoch that every seed has reached; says when the pruner stops the trial."""

    def __init__(self, trial, metric: str, run_dirs: list[str]):
        self.trial, self.metric, self.run_dirs, self.reported = trial, metric, run_dirs, 0

    def pruned(self, ask: bool = True) -> bool:
        """Report the new epochs; with `ask`, True when the pruner stops the trial at one of them (a group whose
        seeds have all finished is reported with ask=False: pruning it then would save nothing)."""
        by_epoch = group_values(self.run_dirs, self.metric)
        while len(by_epoch.get(self.reported + 1, ())) == len(self.run_dirs):
            self.reported += 1
            self.trial.report(seed_stats(by_epoch[self.reported])["mean"], self.reported)
            if ask and self.trial.should_prune():
                return True
        return False


def train_group(search, trial, params: dict, dirs: list[str], log, parallel: int | None = None) -> str:
    """Train the trial's seeds ("complete", "pruned at epoch N" or "failed: ..."); the children stop with this
    process."""
    seeds = list(search.space.seeds)
    todo = [(s, d) for s, d in zip(seeds, dirs) if not runs.is_finished(d)]
    parallel = parallel or len(seeds)
    pruning = _Pruning(trial, search.space.metric, dirs)
    procs: dict[int, subprocess.Popen] = {}
    previous = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while todo or procs:
            while todo and len(procs) < parallel:
                seed, d = todo.pop(0)
                os.makedirs(os.path.dirname(d), exist_ok=True)
                procs[seed] = _start(search, params, seed, d, d + ".log")
            time.sleep(POLL_SECONDS)
            for seed, p in list(procs.items()):
                if p.poll() is not None:
                    del procs[seed]
                    if p.returncode != 0:
                        _stop(procs)
                        return f"failed: seed {seed} exited with {p.returncode} (see {dirs[seeds.index(seed)]}.log)"
            if pruning.pruned():
                _stop(procs)
                return f"pruned at epoch {pruning.reported}"
        pruning.pruned(ask=False)
        return "complete"
    finally:
        _stop(procs)
        for s, h in previous.items():
            signal.signal(s, h)


def _raise(signum, frame):
    raise Interrupted(signum)


def run_trial(search, study, trial, trial_dir: str, log, parallel: int | None = None) -> None:
    """Train the trial's seed group and tell Optuna its outcome (objective: the mean at the last epoch)."""
    import optuna

    params = dict(trial.params)
    dirs = [search.run_dir(trial_dir, s) for s in search.space.seeds]
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    log(f"search: trial {trial.number} ({trial_dir}): {shown}; seeds {list(search.space.seeds)}")
    outcome = train_group(search, trial, params, dirs, log, parallel)
    if outcome.startswith("pruned"):
        log(f"search: trial {trial.number} {outcome}")
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    if outcome.startswith("failed"):
        log(f"search: trial {trial.number} {outcome}")
        trial.set_user_attr("error", outcome)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return
    value = group_value(dirs, search.space.metric)
    if isinstance(value, str):
        trial.set_user_attr("error", value)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        log(f"search: trial {trial.number} failed: {value}")
        return
    trial.set_user_attr("sd", value.sd)
    trial.set_user_attr("n", value.n)
    trial.set_user_attr("epoch", value.epoch)
    study.tell(trial, value.mean)
    sd = math.nan if value.sd is None else value.sd
    log(f"search: trial {trial.number}: {search.space.metric} {value.mean:.4f} ± {sd:.4f} (n={value.n}, "
        f"epoch {value.epoch})")

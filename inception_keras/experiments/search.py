"""`inception-keras search`: an Optuna study whose trials are seed groups of ordinary run directories.

    inception-keras search search/quick.yaml --arch arch/googlenet_quick.yaml --recipe train/quick.yaml

The search directory holds the study (`study.journal`, Optuna's journal storage: an append-only file that
several processes may share) and one directory per trial, `trial-0003/seed=0`, `trial-0003/seed=1`, ...:
each an ordinary run directory that `train` writes (compare reads them; a trial is one seed group). A trial's
objective is the mean over its seeds of the metric at the last epoch; its sd and n are stored with it.

Resumable and distributed: each process that runs the same command is a worker. Under a lock on the study
directory (`study.lock`) a worker takes a trial (a waiting one first, else a new one while fewer than `trials`
are complete, pruned or running) and locks the trial's directory for as long as it works on it. A trial left
running by a dead worker (killed, its pod evicted) has an unlocked directory: the next worker that looks marks
it failed and queues its parameters again with the same directory, so its seeds resume after their last
committed epoch. Locks are flock(2) locks: on a shared volume it must support them (NFSv4 does).

The seeds of a trial train in child processes (experiments/trial.py), like a sweep's points.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from dataclasses import dataclass

from inception_keras import runs
from inception_keras.engine.plan import TrainOptions
from inception_keras.errors import ConfigError
from inception_keras.experiments.grid import value_text
from inception_keras.experiments.journal import check_journal, optuna_error
from inception_keras.lang.resolve import resolve
from inception_keras.lang.search import SearchSpace, load_search

JOURNAL = runs.STUDY
STUDY_LOCK = "study.lock"
TRIAL_LOCK = "trial.lock"
STUDY_NAME = "search"


@dataclass
class Search:
    space: SearchSpace
    options: TrainOptions  # arch, recipe, fixed sets (the file's `fixed:` after the command line's), flags
    directory: str

    @property
    def journal(self) -> str:
        return os.path.join(self.directory, JOURNAL)

    def trial_sets(self, params: dict, seed: int) -> list[str]:
        """The `--set`s of one run of a trial: the fixed ones, the trial's values, its seed."""
        return list(self.options.sets) + [f"{k}={value_text(v)}" for k, v in params.items()] + [f"seed={seed}"]

    def run_dir(self, trial_dir: str, seed: int) -> str:
        return os.path.join(self.directory, trial_dir, f"seed={seed}")


def _extremes(space: SearchSpace) -> list[dict]:
    """Parameter sets that touch every end of every range and every choice (checked before anything trains)."""
    def end(d, which):
        return d.choices[0] if d.kind == "choice" else (d.low if which == 0 else d.high)

    out = [{d.key: end(d, 0) for d in space.dimensions}, {d.key: end(d, 1) for d in space.dimensions}]
    for d in space.dimensions:
        for c in d.choices[1:]:
            out.append({**out[0], d.key: c})
    return out


def make_search(file: str, options: TrainOptions = TrainOptions(), directory: str | None = None) -> Search:
    """The search of `file` from `options`; the ends of every range and every choice are checked by the schema
    now, so a key the architecture or recipe does not have is an error before anything trains."""
    space = load_search(file)
    sets = tuple(options.sets) + tuple(f"{k}={value_text(v)}" for k, v in space.fixed.items())
    options = TrainOptions(options.arch, options.recipe, sets=sets, limit=options.limit, data_dir=options.data_dir,
                           strategy=options.strategy, runs_root=options.runs_root, verbose=options.verbose)
    if directory is None:
        directory = os.path.join(options.runs_root, "search-" + os.path.splitext(os.path.basename(file))[0])
    search = Search(space, options, directory)
    for params in _extremes(space):
        try:
            resolve(options.arch, options.recipe, search.trial_sets(params, space.seeds[0]), options.limit,
                    options.data_dir, options.strategy)
        except ConfigError as e:
            shown = ", ".join(f"{k}={value_text(v)}" for k, v in params.items())
            raise ConfigError(f"{file}: the trial {shown} is not valid: {e}") from None
    return search


# ----------------------------------------------------------------------------- the study


def _sampler(space: SearchSpace, offset: int):
    import optuna

    s = space.sampler
    seed = s["seed"] + offset if "seed" in s else None
    if s["name"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    startup = s.get("startup_trials", min(10, max(1, space.trials // 3)))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def _pruner(space: SearchSpace):
    import optuna

    p = space.pruner
    if p["name"] == "none":
        return optuna.pruners.NopPruner()
    # epochs are Optuna's steps (1, 2, ...): no pruning at the first `warmup_epochs` epochs
    return optuna.pruners.MedianPruner(n_startup_trials=p.get("startup_trials", 2),
                                       n_warmup_steps=p.get("warmup_epochs", 0) + 1)


def storage(path: str):
    """Optuna's journal storage in `path` (file locks by open(O_EXCL), which works on shared volumes)."""
    import optuna

    backend = optuna.storages.journal.JournalFileBackend(path, optuna.storages.journal.JournalFileOpenLock(path))
    return optuna.storages.JournalStorage(backend)


def open_study(search: Search, create: bool = True):
    """The study of the search directory (created on first use); a study of another space is refused."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not create and not os.path.exists(search.journal):
        raise ConfigError(f"{search.directory}: no study here ({JOURNAL} not found)")
    os.makedirs(search.directory, exist_ok=True)
    with study_lock(search.directory):
        check_journal(search.journal)
        try:
            study = optuna.create_study(study_name=STUDY_NAME, storage=storage(search.journal), load_if_exists=True,
                                        direction=search.space.direction)
        except (optuna.exceptions.OptunaError, ValueError, KeyError, TypeError, AssertionError, OSError) as e:
            raise optuna_error(search.journal, e) from None
        stored = study.user_attrs.get("space")
        wanted = search.space.as_dict()
        if stored is None:
            study.set_user_attr("space", wanted)
            study.set_user_attr("arch", os.path.abspath(search.options.arch))
            study.set_user_attr("recipe", os.path.abspath(search.options.recipe))
            study.set_user_attr("sets", list(search.options.sets))
        elif not runs.same_config({"s": stored}, {"s": wanted}):
            keys = ", ".join(runs.differing_keys(stored, wanted)) or "the space"
            raise ConfigError(f"{search.directory} holds a study of another search space ({keys} differ); "
                              f"choose another --search-dir")
        offset = len(study.trials)
    study.sampler = _sampler(search.space, offset)
    study.pruner = _pruner(search.space)
    return study


@contextmanager
def study_lock(directory: str):
    """An exclusive flock on `<directory>/study.lock` for a short critical section (taking a trial)."""
    fd = os.open(os.path.join(directory, STUDY_LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def lock_trial(search: Search, trial_dir: str) -> int | None:
    """An exclusive non-blocking flock on the trial's directory; its fd, or None when another process holds it."""
    path = os.path.join(search.directory, trial_dir)
    os.makedirs(path, exist_ok=True)
    fd = os.open(os.path.join(path, TRIAL_LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def reclaim_stale(search: Search, study, log) -> None:
    """Running trials whose worker died (their directory unlocked): failed, and their parameters queued again
    with the same directory (their seeds resume). Call under the study lock."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        trial_dir = t.user_attrs.get("dir")
        if trial_dir is None:
            continue  # taken a moment ago by a worker that has not named its directory yet: not possible under
            # the study lock, where taking and naming happen together
        fd = lock_trial(search, trial_dir)
        if fd is None:
            continue
        try:
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={"dir": trial_dir, "retry_of": t.number})
            log(f"search: trial {t.number} ({trial_dir}) was left running by a worker that is gone; queued again")
        finally:
            os.close(fd)


def take_trial(search: Search, study, log):
    """(trial, its directory, the fd of its lock), or None when the study has all its trials."""
    import optuna

    S = optuna.trial.TrialState
    with study_lock(search.directory):
        reclaim_stale(search, study, log)
        trials = study.get_trials(deepcopy=False)
        waiting = any(t.state == S.WAITING for t in trials)
        active = sum(t.state in (S.COMPLETE, S.PRUNED, S.RUNNING) for t in trials)
        retried = {t.user_attrs.get("retry_of") for t in trials}
        failed = sum(t.state == S.FAIL and t.number not in retried for t in trials)
        if failed >= search.space.trials:
            raise ConfigError(f"{search.directory}: {failed} trials failed; not starting more (see their runs' "
                              f"state.json)")
        if not waiting and active >= search.space.trials:
            return None
        trial = study.ask()
        trial_dir = trial.user_attrs.get("dir") or f"trial-{trial.number:04d}"
        fd = lock_trial(search, trial_dir)
        if fd is None:  # cannot happen for a new directory; a queued one is locked by nobody (reclaimed above)
            raise ConfigError(f"{trial_dir}: locked by another process")
        trial.set_user_attr("dir", trial_dir)
        for d in search.space.dimensions:
            _suggest(trial, d)
        return trial, trial_dir, fd


def _suggest(trial, d):
    if d.kind == "log_uniform":
        return trial.suggest_float(d.key, d.low, d.high, log=True)
    if d.kind == "uniform":
        return trial.suggest_float(d.key, d.low, d.high)
    if d.kind == "int":
        return trial.suggest_int(d.key, d.low, d.high, step=d.step, log=d.log)
    return trial.suggest_categorical(d.key, list(d.choices))


def run_worker(search: Search, log=None, parallel: int | None = None, mlflow: bool = False) -> int:
    """Take trials until the study has them all; return how many trials this worker ran. `mlflow`: each
    trial's finished runs are logged to MLflow (engine/tracking.py) when the trial ends."""
    from inception_keras.experiments.trial import run_trial

    log = log or (lambda *parts: print(*parts, flush=True))
    study = open_study(search)
    done = 0
    while True:
        taken = take_trial(search, study, log)
        if taken is None:
            break
        trial, trial_dir, fd = taken
        try:
            run_trial(search, study, trial, trial_dir, log, parallel)
            if mlflow:
                _track(search, trial_dir, log)
        finally:
            os.close(fd)
        done += 1
    return done


def _track(search: Search, trial_dir: str, log) -> None:
    from inception_keras.experiments.tracking import log_run

    for seed in search.space.seeds:
        run_dir = search.run_dir(trial_dir, seed)
        if runs.is_finished(run_dir):
            rid = log_run(run_dir, search.options.runs_root, "search-" + os.path.basename(search.directory),
                          {"inception_keras.search": os.path.abspath(search.directory),
                           "inception_keras.trial": trial_dir})
            log(f"search: {run_dir} logged to MLflow (run {rid})")

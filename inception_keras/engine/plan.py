"""What a training run will be, decided before TensorFlow starts: files + flags -> configuration -> run directory.

The root of default run directories is decided here (the default architecture and recipe in
`lang.defaults`). `TrainOptions` is what a user asks for (the
`train` flags); `plan` turns it into a `Plan`: the checked architecture and recipe, the resolved
configuration written to config.yaml (all three from the one resolver, `lang.resolve`), and the run directory
(new, or an unfinished one to resume).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from inception_keras import runs
from inception_keras.errors import ConfigError
from inception_keras.lang.arch import ArchSpec
from inception_keras.lang.defaults import DEFAULT_ARCH, DEFAULT_RECIPE
from inception_keras.lang.overrides import parse_sets
from inception_keras.lang.recipe import Recipe
from inception_keras.lang.resolve import resolve
from inception_keras.lang.summary import memory_problem
from inception_keras.runs.config import resolved_config

RUNS_ROOT = "runs"
RUNS_ROOT_ENV = "INCEPTION_KERAS_RUNS"


def default_runs_root() -> str:
    """Where the command line puts default run directories: $INCEPTION_KERAS_RUNS, or runs."""
    return os.environ.get(RUNS_ROOT_ENV, RUNS_ROOT)


@dataclass(frozen=True)
class TrainOptions:
    """What a user asks `train` for: the command line's flags, one object instead of long argument lists.

    `sets` are `KEY=VALUE` strings (`arch.` prefixes an architecture key); `limit`, `data_dir` and
    `strategy` set recipe keys as `--set`s would. `verbose` is Keras' (None: a progress line that redraws
    itself on terminals, a line a minute in logs). `init_from` starts a new run from another run's (or a
    file's) weights; `recover` lets `--resume` rebuild a lost commit record from the newest intact weights.
    """

    arch: str = DEFAULT_ARCH
    recipe: str = DEFAULT_RECIPE
    run_dir: str | None = None
    resume: str | None = None
    sets: tuple = ()
    limit: int | None = None
    data_dir: str | None = None
    strategy: str | None = None
    runs_root: str = RUNS_ROOT
    verbose: int | None = None
    init_from: str | None = None
    recover: bool = False

    def __post_init__(self):
        object.__setattr__(self, "sets", tuple(self.sets or ()))

    @property
    def overrides_given(self) -> bool:
        """True when anything beyond the two files changes the configuration."""
        return bool(self.sets) or any(v is not None for v in (self.limit, self.data_dir, self.strategy))


@dataclass
class Plan:
    """Everything decided before TensorFlow starts: the configuration and where the run goes."""

    spec: ArchSpec
    recipe: Recipe
    config: dict
    run_dir: str
    resuming: bool
    notes: list = field(default_factory=list)  # said before training starts
    rewrite_config: bool = False  # config.yaml changes (a run continued to more epochs)


def plan(options: TrainOptions, multi_worker: bool = False) -> Plan:
    """Where the run goes: `--resume`, `--run-dir` (new, or the same unfinished configuration), or a new
    directory under the runs root unless an unfinished run of the same configuration is there."""
    if options.resume:
        return _plan_resume(options)
    o = options
    spec, recipe, config = resolve(o.arch, o.recipe, o.sets, o.limit, o.data_dir, o.strategy)
    too_big = memory_problem(spec, recipe.batch_size)  # before TensorFlow starts, with the numbers
    if too_big:
        raise ConfigError(too_big)
    if o.init_from:
        config["init_from"] = init_source(o.init_from)
    if o.run_dir:
        return _plan_run_dir(o.run_dir, spec, recipe, config)
    if multi_worker:
        raise ConfigError("multi-worker training needs --run-dir: every worker must name the same run directory "
                          "(on storage they share)")
    prefix = f"{spec.name}-{recipe.name}"
    found = runs.find_resumable(o.runs_root, prefix, config)
    if found:
        runs.require_commit(runs.inspect(found))
        return Plan(spec, recipe, config, found, True)
    notes = []
    done = runs.find_finished(o.runs_root, prefix, config)
    if done:
        notes.append(f"note: {done} is a finished run of this configuration; this starts another one (to train it "
                     f"further: inception-keras train --resume {done} --set epochs=N)")
    return Plan(spec, recipe, config, runs.new_run_dir(o.runs_root, prefix), False, notes)


def init_source(path: str) -> str:
    """The weights a new run starts from: a run directory, a .keras or a .weights.h5 file (checked now)."""
    if os.path.isdir(path):
        ev = runs.inspect(path)
        if not ev.model and ev.checkpoint is None:
            raise ConfigError(f"--init-from {path}: the run has no {runs.MODEL} and no committed epoch to start from")
    elif not os.path.isfile(path):
        raise ConfigError(f"--init-from {path}: no such run directory or weights file")
    elif not path.endswith((".keras", ".weights.h5")):
        raise ConfigError(f"--init-from {path}: expected a run directory, a .keras or a .weights.h5 file")
    return os.path.abspath(path)


def _plan_resume(options: TrainOptions) -> Plan:
    run_dir = options.resume
    sets = parse_sets(list(options.sets))
    epochs = [v for k, v in sets if k == "epochs"]
    if [k for k, _ in sets if k != "epochs"] or any(v is not None for v in (options.limit, options.data_dir,
                                                                            options.strategy, options.init_from)):
        raise ConfigError("--resume continues a run with its own configuration: drop --set (but --set epochs=N, "
                          "which trains it to N epochs), --limit, --data-dir, --strategy and --init-from (or start "
                          "a new run)")
    ev = runs.inspect(run_dir)
    if ev.config is None:
        raise ConfigError(f"{run_dir}: not a run directory (no {runs.CONFIG})")
    if options.recover and ev.checkpoint is None:
        runs.recover(run_dir)
        ev = runs.inspect(run_dir)
    runs.require_commit(ev)
    spec, recipe, _ = resolve(*runs.config_documents(run_dir))
    config = ev.config  # as config.yaml holds it (a run of an older version keeps its own text)
    done = ev.checkpoint["epoch"] if ev.checkpoint else 0
    notes = []
    if epochs:
        before = recipe.epochs
        recipe, config = _with_epochs(run_dir, recipe, config, epochs[-1], done)
        notes.append(f"training to {recipe.epochs} epochs (config.yaml said {before}; {done} done)")
        return Plan(spec, recipe, config, run_dir, True, notes, rewrite_config=True)
    if ev.finished:
        raise ConfigError(f"{run_dir}: this run is finished; it is never overwritten (to train it further: "
                          f"--resume {run_dir} --set epochs=N with N > {done}; or start a new run)")
    return Plan(spec, recipe, config, run_dir, True, notes)


def _with_epochs(run_dir: str, recipe: Recipe, config: dict, target, done: int):
    """The recipe and configuration of a run continued to `target` epochs (checked as the recipe's key)."""
    from dataclasses import replace

    from inception_keras.lang.reader import Document
    from inception_keras.lang.recipe import parse_recipe as check

    config = dict(config, recipe=dict(config["recipe"], epochs=target))
    check(Document(f"{run_dir}/{runs.CONFIG} (recipe, --set epochs)", config["recipe"]))  # a valid count
    if target <= done:
        raise ConfigError(f"--set epochs={target}: {run_dir} has {done} epoch(s) done; give more to train further")
    return replace(recipe, epochs=target), config


def _plan_run_dir(run_dir: str, spec: ArchSpec, recipe: Recipe, config: dict) -> Plan:
    ev = runs.inspect(run_dir)
    if ev.config is None:
        if ev.history:
            raise ConfigError(f"{run_dir}: holds {'; '.join(ev.history)} but no {runs.CONFIG}; not overwriting it")
        foreign = sorted(set(os.listdir(run_dir) if os.path.isdir(run_dir) else ()) - {runs.BACKUP, runs.LOCK})
        if foreign:
            raise ConfigError(f"{run_dir}: exists and is not a run directory (it holds {', '.join(foreign[:3])}"
                              f"{', ...' if len(foreign) > 3 else ''}); its files are not overwritten: choose a new "
                              "or empty --run-dir")
        return Plan(spec, recipe, config, run_dir, False)
    if ev.finished:
        raise ConfigError(f"{run_dir}: holds a finished run; it is never overwritten (choose another --run-dir)")
    if not runs.same_config(resolved_config(ev.config), config):
        keys = ", ".join(runs.differing_keys(resolved_config(ev.config), yaml_round(config)))
        raise ConfigError(f"{run_dir}: holds an unfinished run with a different configuration ({keys}); "
                          f"resume it with --resume {run_dir} or choose another --run-dir")
    runs.require_commit(ev)
    return Plan(spec, recipe, config, run_dir, True)


def yaml_round(config: dict) -> dict:
    """`config` as config.yaml will hold it (tuples become lists)."""
    import yaml

    return yaml.safe_load(runs.dump_config(config))

"""A training run's set-up, before its first `fit`: the session (the plan and the tf.distribute strategy), then,
under the run directory's lock, where it starts (its last committed epoch), precision, XLA, the seed and the data,
the models built and compiled in the strategy's scope with their input pipelines, the restored or warm-started
weights, and the run's files (config.yaml, env.json, metrics.csv, state.json). trainer.py runs the epochs.
"""
from __future__ import annotations

import math
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inception_keras import runs
from inception_keras.engine.plan import Plan
from inception_keras.errors import ConfigError, TrainingError
from inception_keras.runs.loader import LoadError, load_model, load_run, load_weights


@dataclass
class Session:
    """One process's share of a run: the plan, the strategy, and what each step of `set_up` adds."""

    plan: Plan
    strategy: Any
    strategy_name: str
    chief: bool
    worker_tmp: str  # where a worker other than the chief keeps its backup
    log: Callable
    verbose: int | None
    checkpoint: dict | None = None
    start_epoch: int = 0
    history: list = field(default_factory=list)  # metric rows of the epochs done
    precision: str = "float32"
    jit: bool = False
    source: Any = None  # data.Source
    notes: list = field(default_factory=list)
    models: Any = None  # builder.Models
    train_data: Any = None  # data.Pipeline: one dataset per epoch
    val_ds: Any = None
    steps: int = 0  # per epoch

    @property
    def recipe(self):
        return self.plan.recipe

    @property
    def spec(self):
        return self.plan.spec

    @property
    def run_dir(self) -> str:
        return self.plan.run_dir


def start_session(p: Plan, log: Callable, verbose: int | None) -> Session:
    """The strategy (first: multi-worker collectives must be set up before TensorFlow initializes), whether this
    process is the chief, and a worker's own backup directory; refuses a finished run (the chief)."""
    from inception_keras.engine.distribute import is_chief, make_strategy, task

    strat, strategy_name = make_strategy(p.recipe.strategy, p.recipe.cpu_devices)
    chief = is_chief(strat)
    task_type, task_id = task(strat)
    if chief:
        if runs.is_finished(p.run_dir) and not p.rewrite_config:
            raise ConfigError(f"{p.run_dir}: holds a finished run; it is never overwritten")
        runs.check_writable(p.run_dir)
    worker_tmp = os.path.join(p.run_dir, runs.BACKUP, f".{task_type}-{task_id}-tmp")
    if not chief:
        os.makedirs(worker_tmp, exist_ok=True)
        log = _quiet  # workers other than the chief stay quiet
    for note in p.notes:
        log(note)
    return Session(p, strat, strategy_name, chief, worker_tmp, log, verbose)


def _quiet(*parts, **kwargs) -> None:
    pass


def set_up(s: Session) -> None:
    """Everything before the first epoch, in order (under the run directory's lock)."""
    _start(s)
    _prepare(s)
    _build(s)
    _restore(s)
    s.log(f"model: {s.spec.name}, {s.models.train.count_params():,} parameters; precision {s.precision}; "
          f"XLA {'on' if s.jit else 'off'}; batch {s.recipe.batch_size} global; {s.recipe.epochs} "
          f"epoch{'s' if s.recipe.epochs != 1 else ''}")
    if s.chief:
        _write_run_files(s)


def _start(s: Session) -> None:
    """Where the run starts (its last committed epoch), what runs it, and whether the batch splits."""
    from inception_keras.engine.distribute import devices

    s.checkpoint = runs.read_checkpoint(s.run_dir)
    s.start_epoch = s.checkpoint["epoch"] if s.checkpoint else 0
    s.history = list(s.checkpoint["history"])[:s.start_epoch] if s.checkpoint else []
    if s.chief:
        s.log(f"run directory: {s.run_dir}" + (f" (resuming after epoch {s.start_epoch})" if s.checkpoint else
                                               " (resuming)" if s.plan.resuming else ""))
    strat = s.strategy
    s.log(f"strategy: {s.strategy_name} ({type(strat).__name__}), {strat.num_replicas_in_sync} replica(s), "
          f"devices: {', '.join(devices(strat))}")
    if s.recipe.batch_size % strat.num_replicas_in_sync:
        raise ConfigError(f"batch_size {s.recipe.batch_size} does not split evenly across "
                          f"{strat.num_replicas_in_sync} replicas")


def _prepare(s: Session) -> None:
    """Precision, XLA, the seed, and the data source."""
    import keras
    import tensorflow as tf

    from inception_keras.data.images import channel_note
    from inception_keras.data.sources import open_source
    from inception_keras.engine.task import resolve_precision

    recipe, spec = s.recipe, s.spec
    s.precision = resolve_precision(recipe.precision)
    keras.mixed_precision.set_global_policy(s.precision)
    s.jit = bool(tf.config.list_physical_devices("GPU")) if recipe.jit_compile == "auto" else recipe.jit_compile
    keras.utils.set_random_seed(recipe.seed)
    s.source = open_source(recipe.dataset, spec.classes)
    s.notes = [n for n in [channel_note(s.source.channels, spec.input[2])] if n]
    s.log(f"data: {s.source.description}: {s.source.train.count:,} training, {s.source.val.count:,} validation "
          f"examples, resized to {'x'.join(map(str, spec.input))}" + "".join(f"; {n}" for n in s.notes))
    for note in spec.adaptations:
        s.log(f"adapted: {note}")
    if recipe.augment and recipe.augment.names:
        s.log(f"augment (training data only): {', '.join(recipe.augment.names)}")


def _build(s: Session) -> None:
    """The models in the strategy's scope, the input pipelines, and the compiled training model."""
    import tensorflow as tf

    from inception_keras.data.pipeline import Pipeline
    from inception_keras.engine.compat import build_for_multi_worker
    from inception_keras.engine.finetune import keep_raw_weights_after_fit
    from inception_keras.engine.task import compile_model
    from inception_keras.nn.builder import build_models

    recipe, spec, strat, source = s.recipe, s.spec, s.strategy, s.source
    with strat.scope():
        try:
            s.models = build_models(spec)
        except (MemoryError, tf.errors.ResourceExhaustedError) as e:
            raise TrainingError(f"out of memory while building {spec.name} ({spec.params_with_aux:,} parameters, "
                                f"{spec.params_with_aux * 4 / 2 ** 30:.1f} GiB of float32 weights): "
                                f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    labels = dict(outputs=tuple(s.models.loss_weights), classes=spec.classes)
    s.train_data = Pipeline.from_recipe(recipe, source, spec.input, training=True, **labels)
    s.val_ds = Pipeline.from_recipe(recipe, source, spec.input, training=False, **labels).validation()
    s.steps = math.ceil(source.train.count / recipe.batch_size)
    with strat.scope():
        compile_model(s.models, recipe, s.steps, s.jit)
        s.models.train.optimizer.build(s.models.train.trainable_variables)  # every variable, frozen or not
    if recipe.optimizer.ema is not None:
        keep_raw_weights_after_fit(s.models.train.optimizer)
    if isinstance(strat, tf.distribute.MultiWorkerMirroredStrategy):
        build_for_multi_worker(s.models.train, s.train_data.epoch(0), strat)


def _restore(s: Session) -> None:
    """Weights, optimizer and random state of the last committed epoch; or, for a new run with `init_from`,
    the weights it starts from."""
    from inception_keras.engine.callbacks import set_rng_state

    if s.checkpoint:
        path = os.path.join(s.run_dir, runs.BACKUP, s.checkpoint["weights"])
        load_weights(s.models.train, path)
        set_rng_state(s.models.train, s.checkpoint.get("rng"))
        s.log(f"restored epoch {s.start_epoch} from {path}")
    elif s.plan.config.get("init_from"):
        s.log(warm_start(s.models.train, s.plan.config["init_from"]))


def warm_start(model, source: str) -> str:
    """Copy weights into `model` from another run (its model.keras, else its last backup), a .keras file or a
    .weights.h5 file: every layer whose name and weight shapes match; the others keep their fresh
    initialization (a new head for other classes). Returns what it did, for the log."""
    path = source
    try:
        if os.path.isdir(source):
            loaded = load_run(source)
            donor, path = loaded.train, loaded.path
        elif source.endswith(".keras"):
            donor = load_model(source)
        else:  # a bare .weights.h5 names no layers: it fits a network of the same structure only
            load_weights(model, path, skip_mismatch=True)
            return f"initialized from {path} (the same structure; layers of other shapes start fresh)"
    except LoadError as e:
        raise ConfigError(f"--init-from {e.path}: cannot load it ({e.reason})") from None
    return _copy_weights(model, {layer.name: layer.get_weights() for layer in donor.layers}, path)


def _copy_weights(model, donor: dict, path: str) -> str:
    """Every layer whose name and weight shapes match takes the donor's weights; the report says how many
    tensors were taken and which layers start fresh, and why (no such name there, or other shapes)."""
    copied, tensors, fresh = 0, 0, []
    for layer in model.layers:
        if not layer.weights:
            continue
        arrays = donor.get(layer.name)
        mine = [tuple(w.shape) for w in layer.weights]
        if not arrays:
            fresh.append(f"{layer.name} (no layer of that name there)")
        elif [tuple(a.shape) for a in arrays] != mine:
            fresh.append(f"{layer.name} (shapes {_shapes(mine)} here, {_shapes([a.shape for a in arrays])} there)")
        else:
            layer.set_weights(arrays)
            copied, tensors = copied + 1, tensors + len(arrays)
    if not copied:
        raise ConfigError(f"--init-from {path}: no layer of this network matches one there by name and shape "
                          f"(fresh: {', '.join(fresh[:4])}{', ...' if len(fresh) > 4 else ''})")
    return (f"initialized {copied} layer(s), {tensors} tensor(s), from {path}"
            + (f"; {len(fresh)} layer(s) start fresh: {'; '.join(fresh[:8])}" + ("; ..." if len(fresh) > 8 else "")
               if fresh else "; no layer starts fresh"))


def _shapes(shapes) -> str:
    return " ".join("x".join(map(str, s)) for s in shapes)


def _write_run_files(s: Session) -> None:
    """config.yaml (once), env.json (earlier sessions kept inside), metrics.csv and state.json (the chief's)."""
    from inception_keras.engine.callbacks import write_hparams
    from inception_keras.engine.env import environment

    run_dir = s.run_dir
    if s.plan.rewrite_config or runs.read_config(run_dir) is None:
        runs.write_config(run_dir, s.plan.config)
    env = environment(s.strategy, s.strategy_name, s.precision, s.jit, s.source, s.notes)
    old = runs.read_json(os.path.join(run_dir, runs.ENV))
    if old:
        env["previous_sessions"] = old.pop("previous_sessions", []) + [old]
    env["resumed_from_epoch"] = s.start_epoch
    runs.write_json(os.path.join(run_dir, runs.ENV), env)
    runs.write_metrics(run_dir, s.history)
    if s.start_epoch == 0:  # a resumed run has its HParams session already
        write_hparams(run_dir, s.plan.config)
    runs.write_state(run_dir, status="running", epochs_done=s.start_epoch, epochs=s.recipe.epochs,
                     arch=s.spec.name, recipe=s.recipe.name, params=s.models.inference.count_params(),
                     pid=os.getpid(), host=socket.gethostname())

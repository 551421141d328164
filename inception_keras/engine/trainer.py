"""`inception-keras train`: the run itself, from `TrainOptions` to a finished run directory (the runs package).

The pieces live beside it, as TensorFlow Model Garden separates config, task and trainer: plan.py decides
the configuration and the run directory, task.py compiles the model, callbacks.py commits each epoch,
env.py records the environment, compat.py works around Keras bugs. Here they run in order: plan, create
the tf.distribute strategy (before anything initializes TensorFlow), lock the run directory, then the steps
of `_train_locked`.
"""
from __future__ import annotations

import math
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inception_keras import runs
from inception_keras.engine.plan import RUNS_ROOT, Plan, TrainOptions, plan
from inception_keras.errors import ConfigError, Interrupted, TrainingError, raise_interrupted
from inception_keras.lang.defaults import DEFAULT_ARCH, DEFAULT_RECIPE
from inception_keras.runs.loader import LoadError, load_model, load_run, load_weights


def train(arch_path=DEFAULT_ARCH, recipe_path=DEFAULT_RECIPE, run_dir=None, resume=None, sets=(), limit=None,
          data_dir=None, strategy=None, runs_root=RUNS_ROOT, verbose=None, log=None, init_from=None,
          recover=False) -> str:
    """Train; return the run directory. Raises ConfigError (bad input) or TrainingError (a failed run).

    The arguments are the flags of `inception-keras train`; a `TrainOptions` may stand for all of them
    (`train(TrainOptions(recipe=..., sets=("epochs=3",)), log=...)`). `log` prints by default.

    SIGTERM (docker stop, Kubernetes) and SIGINT stop the run with `Interrupted`: the last completed epoch
    is kept and the same command resumes it.
    """
    options = _as_options(arch_path, recipe=recipe_path, run_dir=run_dir, resume=resume, sets=sets, limit=limit,
                          data_dir=data_dir, strategy=strategy, runs_root=runs_root, verbose=verbose,
                          init_from=init_from, recover=recover)
    if log is None:
        def log(*parts):
            print(*parts, flush=True)

    previous = {s: signal.signal(s, raise_interrupted) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _train(options, log)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _as_options(arch_path, **flags) -> TrainOptions:
    if not isinstance(arch_path, TrainOptions):
        return TrainOptions(arch_path, **flags)
    if TrainOptions(**flags) != TrainOptions():
        raise TypeError("train() takes a TrainOptions or keyword arguments, not both")
    return arch_path


@dataclass
class Session:
    """One process's share of a run: the plan, the strategy, and what each step of `_train_locked` adds."""

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


def _train(options: TrainOptions, log) -> str:
    from inception_keras.engine.distribute import tf_config

    multi_worker = bool(tf_config()) and (options.strategy or "auto") in ("auto", "multi_worker_mirrored")
    p = plan(options, multi_worker=multi_worker)

    # The strategy comes first: multi-worker collectives must be set up before TensorFlow initializes.
    from inception_keras.engine.distribute import is_chief, make_strategy, task

    strat, strategy_name = make_strategy(p.recipe.strategy, p.recipe.cpu_devices)
    chief = is_chief(strat)
    task_type, task_id = task(strat)
    new_dir = not os.path.exists(p.run_dir)
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
    session = Session(p, strat, strategy_name, chief, worker_tmp, log, options.verbose)
    try:
        with runs.RunLock(p.run_dir if chief else worker_tmp):
            return _train_locked(session)
    except BaseException:
        if chief and new_dir and not session.history:
            runs.remove_unstarted(p.run_dir)  # a start that failed leaves no skeleton behind
        raise


def _quiet(*parts, **kwargs) -> None:
    pass


def _train_locked(s: Session) -> str:
    _start(s)
    _prepare(s)
    _build(s)
    _restore(s)
    s.log(f"model: {s.spec.name}, {s.models.train.count_params():,} parameters; precision {s.precision}; "
          f"XLA {'on' if s.jit else 'off'}; batch {s.recipe.batch_size} global; {s.recipe.epochs} "
          f"epoch{'s' if s.recipe.epochs != 1 else ''}")
    if s.chief:
        _write_run_files(s)
    _fit(s)
    _finish(s)
    return s.run_dir


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


def _callbacks(s: Session) -> list:
    """The epoch's commit (and TensorBoard scalars), a progress line, NaN detection."""
    import keras

    from inception_keras.engine.callbacks import keras_callback, make_backup_callback, make_progress_callback
    from inception_keras.engine.finetune import Annotator, EmaValidation

    backup = make_backup_callback(s.run_dir, s.chief, s.worker_tmp, s.history, s.recipe.epochs,
                                  s.source.train.count, s.log, Annotator(s.recipe, s.models, s.run_dir, s.chief))
    callbacks = [keras.callbacks.TerminateOnNaN(raise_error=True)]
    if s.recipe.optimizer.ema is not None:
        callbacks.append(keras_callback(EmaValidation)())
    if s.chief and s.verbose != 0:  # before the backup: its status line is cleared before the epoch's line
        tty = s.verbose == 1 or (s.verbose is None and sys.stdout.isatty())
        callbacks.append(make_progress_callback(s.recipe.epochs, s.steps, s.recipe.batch_size, s.log, tty=tty,
                                                start_epoch=s.start_epoch))
    return callbacks + [backup]


def _fit(s: Session) -> None:
    """One `fit` per epoch from the first epoch not done, each on that epoch's data order; then model.keras.
    state.json says how it ended; a full disk or an unreadable image ends the run with a clear error and the
    last committed epoch kept."""
    import tensorflow as tf

    from inception_keras.engine.finetune import average_last, ema_weights, stop_early

    run_dir, epochs, history = s.run_dir, s.recipe.epochs, s.history
    callbacks = _callbacks(s)
    status, error = "failed", None
    try:
        for epoch in range(s.start_epoch, epochs):
            if stop_early(history, s.recipe.early_stopping):
                s.log(f"early stopping: {s.recipe.early_stopping.metric} has not improved for "
                      f"{s.recipe.early_stopping.patience} epoch(s) since epoch {history[-1]['best_epoch']}")
                break
            _enter_phase(s, epoch)
            s.models.train.fit(s.train_data.epoch(epoch), validation_data=s.val_ds, epochs=epoch + 1,
                               initial_epoch=epoch, callbacks=callbacks, verbose=0, shuffle=False)
        if s.chief:
            with ema_weights(s.models.train):
                runs.save_model(s.models.inference, run_dir)
            if s.recipe.average_last:
                runs.write_state(run_dir, averaged=average_last(s.models, s.recipe, run_dir, len(history),
                                                                s.val_ds, s.log))
        status = "finished"
    except Interrupted as e:
        status = "interrupted"
        s.log(f"{e}: stopped; {len(history)} epoch(s) kept; run the same command again (or --resume {run_dir}) "
              f"to continue")
        raise
    except OSError as e:
        error = os_reason(e)
        runs.remove_temporaries(run_dir)
        raise TrainingError(f"cannot write the run directory ({error}) in epoch {len(history) + 1}; the last "
                            f"committed epoch ({len(history)}) is kept in {run_dir}/{runs.BACKUP}. Free space (or "
                            f"fix the directory), then run the same command again to resume.") from None
    except RuntimeError as e:
        if "nan" in str(e).lower() or "inf" in str(e).lower():
            error = str(e)
            raise TrainingError(f"the loss became NaN or infinite in epoch {len(history) + 1}; training stopped. The "
                                f"last good backup (epoch {len(history)}) is kept in {run_dir}/{runs.BACKUP}. "
                                f"Lower the learning rate or check the data, then start a new run.") from None
        raise
    except tf.errors.InvalidArgumentError as e:
        from inception_keras.data.folders import clean_tf_message, find_unreadable

        error = clean_tf_message(e.message)
        culprit = find_unreadable(s.source)
        if culprit:  # bad input, named: exit 2 like every other input mistake
            raise ConfigError(f"training stopped in epoch {len(history) + 1} on a broken image: {culprit}; the last "
                              f"committed epoch ({len(history)}) is kept in {run_dir}") from None
        raise TrainingError(f"training failed on the input data: {error}") from None
    finally:
        if s.chief:
            _record_end(run_dir, status, len(history), error)


def _enter_phase(s: Session, epoch: int) -> None:
    """Freeze what this epoch's phase freezes (at the first epoch of a session and where a phase begins)."""
    from inception_keras.engine.finetune import apply_freezing, count_params, frozen_names, phase_index, uses_phases

    if not uses_phases(s.recipe):
        return
    index = phase_index(s.recipe, epoch)
    if apply_freezing(s.models.train, s.spec, frozen_names(s.recipe, index)) or epoch == s.start_epoch:
        model = s.models.train
        s.log(f"phase {index} from epoch {epoch + 1}: {count_params(model.trainable_weights):,} trainable, "
              f"{count_params(model.non_trainable_weights):,} frozen or non-trainable parameters")


def os_reason(e: OSError) -> str:
    """An OSError in a few words: the system's text for its errno (h5py wraps it in a long message), and the
    file when it is known."""
    import re

    code = e.errno
    if code is None:
        found = re.search(r"errno = (\d+)", str(e))
        code = int(found.group(1)) if found else None
    text = os.strerror(code) if code else (e.strerror or str(e)).splitlines()[0]
    return text + (f": {e.filename}" if e.filename else "")


def _record_end(run_dir: str, status: str, epochs: int, error: str | None) -> None:
    """state.json's last word (where the disk allows it), and no lock file left in a finished run."""
    fields = {"status": status}
    if status == "finished":
        fields["epochs_done"] = epochs
    if error:
        fields["error"] = error
    try:
        runs.write_state(run_dir, **fields)
    except OSError:
        runs.remove_temporaries(run_dir)  # the disk is still full: state.json keeps its last good content


def _finish(s: Session) -> None:
    if s.chief:
        last = s.history[-1] if s.history else {}
        s.log(f"finished: {s.run_dir} (val_accuracy {last.get('val_accuracy', float('nan')):.4f})")
        runs.remove_lock(s.run_dir)

"""`inception-keras train`: the run itself, from `TrainOptions` to a finished run directory (the runs package).

The pieces live beside it, as TensorFlow Model Garden separates config, task and trainer: plan.py decides
the configuration and the run directory, setup.py makes the strategy and everything before the first epoch
(data, models, compile, resume), task.py compiles the model, callbacks.py commits each epoch, env.py records
the environment, compat.py works around Keras bugs. Here they run in order: plan, the session (the
tf.distribute strategy, before anything initializes TensorFlow), lock the run directory, set up, then the
epochs (`_fit`) and how the run ends.
"""
from __future__ import annotations

import os
import signal
import sys

from inception_keras import runs
from inception_keras.engine.plan import RUNS_ROOT, TrainOptions, plan
from inception_keras.engine.setup import Session, set_up, start_session
from inception_keras.errors import ConfigError, Interrupted, TrainingError, raise_interrupted
from inception_keras.lang.defaults import DEFAULT_ARCH, DEFAULT_RECIPE


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


def _train(options: TrainOptions, log) -> str:
    from inception_keras.engine.distribute import tf_config

    multi_worker = bool(tf_config()) and (options.strategy or "auto") in ("auto", "multi_worker_mirrored")
    p = plan(options, multi_worker=multi_worker)
    new_dir = not os.path.exists(p.run_dir)
    session = start_session(p, log, options.verbose)
    try:
        with runs.RunLock(p.run_dir if session.chief else session.worker_tmp):
            set_up(session)
            _fit(session)
            _finish(session)
            return session.run_dir
    except BaseException:
        if session.chief and new_dir and not session.history:
            runs.remove_unstarted(p.run_dir)  # a start that failed leaves no skeleton behind
        raise


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
    """The epochs (`_epochs`), and how the run ends: state.json says it (finished, interrupted or failed); a full
    disk, a non-finite loss or an unreadable image ends the run with a clear error and the last committed epoch
    kept."""
    import tensorflow as tf

    run_dir, history = s.run_dir, s.history
    callbacks = _callbacks(s)
    status, error = "failed", None
    try:
        _epochs(s, callbacks)
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
        if "nan" not in str(e).lower() and "inf" not in str(e).lower():
            raise
        error = str(e)
        raise TrainingError(f"the loss became NaN or infinite in epoch {len(history) + 1}; training stopped. The "
                            f"last good backup (epoch {len(history)}) is kept in {run_dir}/{runs.BACKUP}. "
                            f"Lower the learning rate or check the data, then start a new run.") from None
    except tf.errors.InvalidArgumentError as e:
        from inception_keras.data.folders import clean_tf_message

        error = clean_tf_message(e.message)
        raise _input_failure(s, error) from None
    finally:
        if s.chief:
            _record_end(run_dir, status, len(history), error)


def _epochs(s: Session, callbacks: list) -> None:
    """One `fit` per epoch from the first epoch not done, each on that epoch's data order, until early stopping
    says enough; then (the chief) model.keras and the average of the last epochs' weights."""
    from inception_keras.engine.finetune import average_last, ema_weights, stop_early

    history = s.history
    for epoch in range(s.start_epoch, s.recipe.epochs):
        if stop_early(history, s.recipe.early_stopping):
            s.log(f"early stopping: {s.recipe.early_stopping.metric} has not improved for "
                  f"{s.recipe.early_stopping.patience} epoch(s) since epoch {history[-1]['best_epoch']}")
            break
        _enter_phase(s, epoch)
        s.models.train.fit(s.train_data.epoch(epoch), validation_data=s.val_ds, epochs=epoch + 1,
                           initial_epoch=epoch, callbacks=callbacks, verbose=0, shuffle=False)
    if s.chief:
        with ema_weights(s.models.train):
            runs.save_model(s.models.inference, s.run_dir)
        if s.recipe.average_last:
            runs.write_state(s.run_dir, averaged=average_last(s.models, s.recipe, s.run_dir, len(history),
                                                              s.val_ds, s.log))


def _input_failure(s: Session, error: str) -> Exception:
    """TensorFlow refused the input: a broken image named (bad input: exit 2, like every other input mistake),
    else a failed run."""
    from inception_keras.data.folders import find_unreadable

    culprit = find_unreadable(s.source)
    if culprit:
        return ConfigError(f"training stopped in epoch {len(s.history) + 1} on a broken image: {culprit}; the last "
                           f"committed epoch ({len(s.history)}) is kept in {s.run_dir}")
    return TrainingError(f"training failed on the input data: {error}")


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

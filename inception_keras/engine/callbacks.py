"""What a training run does at the end of each epoch and batch: CSV rows, the epoch's commit, progress lines.

`Backup` and `Progress` are plain classes with Keras' hook names; `make_backup_callback` and
`make_progress_callback` mix them into `keras.callbacks.Callback` when a run makes them, so importing this
module imports no Keras (the command line creates the tf.distribute strategy before anything initializes
TensorFlow). The run directory they write is described in the runs package.
"""
from __future__ import annotations

import functools
import os
import time

from inception_keras import runs
from inception_keras.nn.h5 import save_weights


def metrics_row(epoch: int, logs: dict, lr: float, seconds: float, train_seconds: float, images: int) -> dict:
    """Keras' logs -> one CSV row.

    The standard columns always describe the main head, so runs with and without auxiliary heads compare
    (and `val_loss` equals what `evaluate` reports). With auxiliary heads Keras logs `loss` (the weighted
    training objective), `logits_loss`, `logits_accuracy` and `aux1_loss`: they become `total_loss`, `loss`,
    `accuracy` and `aux1_loss` (and the same with `val_`).
    """
    from inception_keras.nn.builder import MAIN_OUTPUT

    main_loss, main_accuracy = f"{MAIN_OUTPUT}_loss", f"{MAIN_OUTPUT}_accuracy"
    row: dict = {"epoch": epoch + 1}
    aux = main_loss in logs or "val_" + main_loss in logs
    extra: dict = {}
    for prefix in ("", "val_"):
        for key in sorted(k[len(prefix):] for k in logs if k.startswith(prefix) and (prefix or not
                                                                                   k.startswith("val_"))):
            value = float(logs[prefix + key])
            if not aux:
                row[prefix + key] = value
            elif key == "loss":
                extra[prefix + "total_loss"] = value
            elif key == main_loss:
                row[prefix + "loss"] = value
            elif key == main_accuracy:
                row[prefix + "accuracy"] = value
            else:
                extra[prefix + key] = value
    row["learning_rate"] = lr
    row["epoch_seconds"] = round(seconds, 3)
    row["images_per_second"] = round(images / train_seconds, 2) if train_seconds > 0 else None
    names = sorted({k.removeprefix("val_") for k in extra}, key=lambda k: (k != "total_loss", k))
    for name in names:
        for key in (name, "val_" + name):
            if key in extra:
                row[key] = extra[key]
    return row


def format_row(row: dict, epochs: int) -> str:
    """One log line per epoch: `epoch 3/10: loss 0.4123 accuracy 0.8512 ... lr 0.01 12.3 s 2000.0 images/s`."""
    parts = [f"epoch {row['epoch']}/{epochs}:"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if row.get(key) is not None:
            parts.append(f"{key} {row[key]:.4f}")
    parts.append(f"lr {row['learning_rate']:.4g}")
    parts.append(f"{row['epoch_seconds']:.1f} s")
    if row.get("images_per_second"):
        parts.append(f"{row['images_per_second']:.1f} images/s")
    return " ".join(parts)


class Backup:
    """Per epoch: weights + optimizer to backup/, then the commit (checkpoint.json), then metrics.csv.

    Every worker saves (multi-worker saving is collective); workers other than the chief save into their own
    `worker_tmp` and write nothing else. `history` (the rows so far) is extended in place.
    """

    def __init__(self, run_dir: str, chief: bool, worker_tmp: str, history: list, epochs: int, train_images: int,
                 log, annotate=None):
        super().__init__()
        self.run_dir, self.chief, self.worker_tmp, self.history = run_dir, chief, worker_tmp, history
        self.epochs, self.train_images, self.log = epochs, train_images, log
        self.annotate = annotate  # (epoch, row, history) -> None: adds columns, keeps files, before the commit

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()
        self.t_train = None

    def on_test_begin(self, logs=None):
        if self.t_train is None:
            self.t_train = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        import keras

        now = time.perf_counter()
        train_seconds = (self.t_train or now) - self.t0
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = metrics_row(epoch, logs or {}, lr, now - self.t0, train_seconds, self.train_images)
        if self.annotate:
            self.annotate(epoch, row, self.history)
        self.commit(epoch, row)
        if self.chief:
            runs.write_metrics(self.run_dir, self.history)
            runs.write_state(self.run_dir, status="running", epochs_done=epoch + 1, epochs=self.epochs)
            write_scalars(self.run_dir, row)
            self.log(format_row(row, self.epochs))

    def commit(self, epoch: int, row: dict) -> None:
        """Weights first, then checkpoint.json naming them (atomically: the commit point), then old weights go.
        The commit also carries the layers' random state (dropout's seed generators), which weights files do
        not hold, so a resumed run draws the same numbers as the uninterrupted one."""
        name = f"epoch-{epoch + 1:04d}.weights.h5"
        where = os.path.join(self.run_dir, runs.BACKUP) if self.chief else self.worker_tmp
        os.makedirs(where, exist_ok=True)
        tmp = os.path.join(where, f"epoch-{epoch + 1:04d}.tmp.weights.h5")
        if os.path.lexists(tmp):
            os.remove(tmp)  # a leftover of a killed run: written anew
        try:
            save_weights(self.model, tmp)  # in memory, then os.write: a full disk is an OSError, not a crash
            os.replace(tmp, os.path.join(where, name))
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        ckpt = {"epoch": epoch + 1, "weights": name, "history": self.history + [row], "rng": rng_state(self.model)}
        runs.write_json(os.path.join(where, runs.CHECKPOINT), ckpt)  # the commit point
        self.history.append(row)
        for old in os.listdir(where):
            if old.endswith(".weights.h5") and old != name:
                os.remove(os.path.join(where, old))


def rng_state(model) -> dict:
    """{variable path: [ints]} of every seed generator in the model (Keras does not save them with weights)."""
    import keras

    return {v.path: [int(x) for x in keras.ops.convert_to_numpy(v).ravel()] for v in model.variables
            if v.path.endswith("seed_generator_state")}


def set_rng_state(model, state: dict | None) -> None:
    import numpy as np

    if not state:
        return
    for v in model.variables:
        if v.path in state:
            v.assign(np.asarray(state[v.path], dtype=v.dtype).reshape(v.shape))


TENSORBOARD = "tensorboard"


def write_scalars(run_dir: str, row: dict) -> None:
    """One epoch's row as TensorBoard scalars under run_dir/tensorboard/{train,validation}, step = epoch."""
    import tensorflow as tf

    step = int(row["epoch"])
    groups = {"train": {k: v for k, v in row.items() if not k.startswith("val_") and k != "epoch"},
              "validation": {k[len("val_"):]: v for k, v in row.items() if k.startswith("val_")}}
    for group, values in groups.items():
        writer = _writer(os.path.join(run_dir, TENSORBOARD, group))
        with writer.as_default():
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(f"epoch_{key}", value, step=step)
        writer.flush()


def hparams_values(config: dict) -> dict:
    """config.yaml's keys flattened (`recipe.optimizer.learning_rate`) with values HParams accepts: numbers,
    booleans and strings as they are, anything else (a list, null) as its text."""
    out = {}
    for key, value in runs.flat_config(config).items():
        out[key] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return out


def write_hparams(run_dir: str, config: dict) -> bool:
    """TensorBoard's HParams session for the run: every resolved key in run_dir/tensorboard, beside the
    train/validation scalars the dashboard takes the metrics from (their last epoch is the final value).
    False (nothing written) where the HParams plugin cannot be imported."""
    try:
        from tensorboard.plugins.hparams import api as hp
    except ImportError:
        return False
    import tensorflow as tf

    writer = tf.summary.create_file_writer(os.path.join(run_dir, TENSORBOARD))
    with writer.as_default():
        hp.hparams(hparams_values(config), trial_id=os.path.basename(os.path.normpath(run_dir)))
    writer.close()
    return True


@functools.cache
def _writer(logdir: str):
    import tensorflow as tf

    return tf.summary.create_file_writer(logdir)


class Progress:
    """Progress and time estimates. On a terminal one status line redraws itself (batch, loss, images/s, time
    left in the epoch and in the run); in logs (nohup, docker logs, Kubernetes) a line every `every` seconds.
    After the first steps it says once how long an epoch and the run should take."""

    def __init__(self, epochs: int, steps: int, batch: int, log, every: float = 60.0, tty: bool = False,
                 start_epoch: int = 0, stream=None, redraw: float = 0.5):
        super().__init__()
        self.epochs, self.steps, self.batch, self.log, self.every = epochs, steps, batch, log, every
        self.redraw = redraw  # seconds between two drawings of the terminal's status line
        self.tty, self.stream, self.start_epoch = tty, stream, start_epoch
        self.epoch_seconds = None  # the last whole epoch, validation included
        self.estimated = False
        self.shown = 0  # width of the status line on the terminal

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.t0, self.last = epoch, time.perf_counter(), time.perf_counter()
        self.t1 = None  # end of the first step (compilation excluded from the rate)

    def on_train_batch_end(self, batch_index, logs=None):
        now = time.perf_counter()
        done = batch_index + 1
        if self.t1 is None:
            self.t1, self.first = now, done
            return
        rate = (done - self.first) * self.batch / (now - self.t1) if now > self.t1 else 0.0
        if not rate:
            return
        epoch_left = (self.steps - done) * self.batch / rate
        if not self.estimated and done - self.first >= 3:
            self.estimated = True
            per_epoch = self.steps * self.batch / rate
            left = self.epochs - self.epoch
            self._say(f"expected: {_duration(per_epoch)} per epoch of training ({rate:.1f} images/s), about "
                      f"{_duration(epoch_left + per_epoch * (left - 1))} for the {left} epoch{'s' if left > 1 else ''}"
                      f" left, plus validation")
        if now - self.last < (self.redraw if self.tty else self.every):
            return
        self.last = now
        per_epoch = self.epoch_seconds or self.steps * self.batch / rate
        run_left = epoch_left + per_epoch * (self.epochs - self.epoch - 1)
        loss = (logs or {}).get("loss")
        line = (f"epoch {self.epoch + 1}/{self.epochs}: batch {done}/{self.steps} ({100 * done / self.steps:.0f}%)"
                + (f", loss {float(loss):.4f}" if loss is not None else "")
                + f", {rate:.1f} images/s, {_duration(epoch_left)} left in the epoch, {_duration(run_left)} in the "
                  f"run")
        if self.tty:
            self._draw(line)
        else:
            self.log("  " + line)

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds = time.perf_counter() - self.t0
        self._draw("")

    def on_train_end(self, logs=None):
        self._draw("")

    def _say(self, text: str) -> None:
        self._draw("")
        self.log(text)

    def _draw(self, line: str) -> None:
        """Replace the status line (an empty line clears it) on the terminal; nothing in logs."""
        if not self.tty or (not line and not self.shown):
            return
        import sys

        stream = self.stream or sys.stdout
        stream.write("\r" + line.ljust(self.shown) + ("" if line else "\r"))
        stream.flush()
        self.shown = len(line)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@functools.cache
def keras_callback(cls: type) -> type:
    """`cls` as a keras.callbacks.Callback (made once, when first needed)."""
    import keras

    return type(cls.__name__, (cls, keras.callbacks.Callback), {"__doc__": cls.__doc__, "__module__": __name__})


def make_backup_callback(run_dir: str, chief: bool, worker_tmp: str, history: list, epochs: int,
                         train_images: int, log, annotate=None):
    return keras_callback(Backup)(run_dir, chief, worker_tmp, history, epochs, train_images, log, annotate)


def make_progress_callback(epochs: int, steps: int, batch: int, log, every: float = 60.0, tty: bool = False,
                           start_epoch: int = 0, stream=None):
    return keras_callback(Progress)(epochs, steps, batch, log, every, tty, start_epoch, stream)

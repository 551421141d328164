"""What a training run does at the end of each epoch and batch: CSV rows, the epoch's commit, progress lines.

`Backup` and `Progress` are plain classes with Keras' hook names; `make_backup_callback` and
`make_progress_callback` mix them into `keras.callbacks.Callback` when a run makes them, so importing this
module imports no Keras (the command line creates the tf.distribute strategy before anything initializes
TensorFlow). The run directory they write is described in runs.py.
"""
from __future__ import annotations

import functools
import os
import time

from . import runs


def metrics_row(epoch: int, logs: dict, lr: float, seconds: float, train_seconds: float, images: int) -> dict:
    """Keras' logs -> one CSV row.

    The standard columns always describe the main head, so runs with and without auxiliary heads compare
    (and `val_loss` equals what `evaluate` reports). With auxiliary heads Keras logs `loss` (the weighted
    training objective), `logits_loss`, `logits_accuracy` and `aux1_loss`: they become `total_loss`, `loss`,
    `accuracy` and `aux1_loss` (and the same with `val_`).
    """
    from .builder import MAIN_OUTPUT

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
                 log):
        super().__init__()
        self.run_dir, self.chief, self.worker_tmp, self.history = run_dir, chief, worker_tmp, history
        self.epochs, self.train_images, self.log = epochs, train_images, log

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
        self.commit(epoch, row)
        if self.chief:
            runs.write_metrics(self.run_dir, self.history)
            runs.write_state(self.run_dir, status="running", epochs_done=epoch + 1, epochs=self.epochs)
            self.log(format_row(row, self.epochs))

    def commit(self, epoch: int, row: dict) -> None:
        """Weights first, then checkpoint.json naming them (atomically: the commit point), then old weights go."""
        name = f"epoch-{epoch + 1:04d}.weights.h5"
        where = os.path.join(self.run_dir, runs.BACKUP) if self.chief else self.worker_tmp
        os.makedirs(where, exist_ok=True)
        tmp = os.path.join(where, f"epoch-{epoch + 1:04d}.tmp.weights.h5")
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, os.path.join(where, name))
        ckpt = {"epoch": epoch + 1, "weights": name, "history": self.history + [row]}
        runs.write_json(os.path.join(where, runs.CHECKPOINT), ckpt)  # the commit point
        self.history.append(row)
        for old in os.listdir(where):
            if old.endswith(".weights.h5") and old != name:
                os.remove(os.path.join(where, old))


class Progress:
    """Progress for logs that are not terminals (nohup, docker logs, Kubernetes): a line every `every` seconds
    with the batch, the running loss, images/s and the time left in the epoch."""

    def __init__(self, epochs: int, steps: int, batch: int, log, every: float = 60.0):
        super().__init__()
        self.epochs, self.steps, self.batch, self.log, self.every = epochs, steps, batch, log, every

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.t0, self.last = epoch, time.perf_counter(), time.perf_counter()

    def on_train_batch_end(self, batch_index, logs=None):
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        done = batch_index + 1
        rate = done * self.batch / (now - self.t0)
        left = (self.steps - done) * self.batch / rate if rate else 0
        loss = (logs or {}).get("loss")
        self.log(f"  epoch {self.epoch + 1}/{self.epochs}: batch {done}/{self.steps} ({100 * done / self.steps:.0f}%)"
                 + (f", loss {float(loss):.4f}" if loss is not None else "")
                 + f", {rate:.1f} images/s, {left / 60:.1f} min left in the epoch")


@functools.cache
def keras_callback(cls: type) -> type:
    """`cls` as a keras.callbacks.Callback (made once, when first needed)."""
    import keras

    return type(cls.__name__, (cls, keras.callbacks.Callback), {"__doc__": cls.__doc__, "__module__": __name__})


def make_backup_callback(run_dir: str, chief: bool, worker_tmp: str, history: list, epochs: int,
                         train_images: int, log):
    return keras_callback(Backup)(run_dir, chief, worker_tmp, history, epochs, train_images, log)


def make_progress_callback(epochs: int, steps: int, batch: int, log, every: float = 60.0):
    return keras_callback(Progress)(epochs, steps, batch, log, every)

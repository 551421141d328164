"""Each epoch's CSV row, log line and commit to the run directory; progress lines (callbacks.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from inception_keras import runs
from inception_keras.engine.callbacks import format_row, make_backup_callback, make_progress_callback, metrics_row


@pytest.mark.e2e
def test_training_modules_import_no_tensorflow():
    """The command line creates the tf.distribute strategy before anything initializes TensorFlow, and sets
    TensorFlow's environment before its import: none of the modules on that path imports it."""
    code = ("import sys\nimport inception_keras.cli, inception_keras.engine.trainer, inception_keras.engine.callbacks, "
            "inception_keras.engine.plan, inception_keras.engine.task, inception_keras.engine.env, "
            "inception_keras.engine.compat\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.e2e
def test_metrics_row_of_a_model_with_one_output():
    logs = {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.625, "val_accuracy": 0.5}
    row = metrics_row(2, logs, lr=0.01, seconds=12.34567, train_seconds=10.0, images=640)
    assert row == {"epoch": 3, "accuracy": 0.75, "loss": 0.5, "val_accuracy": 0.5, "val_loss": 0.625,
                   "learning_rate": 0.01, "epoch_seconds": 12.346, "images_per_second": 64.0}
    assert list(row) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss", "learning_rate",
                         "epoch_seconds", "images_per_second"]
    assert metrics_row(0, {"loss": 1.0}, 0.1, 0.0, 0.0, 640)["images_per_second"] is None
    csv = runs.metrics_csv([row])
    assert csv.splitlines()[0] == ",".join(runs.COLUMNS)


@pytest.mark.e2e
def test_metrics_row_with_auxiliary_heads_describes_the_main_head():
    logs = {"loss": 3.0, "logits_loss": 2.0, "logits_accuracy": 0.5, "aux1_loss": 2.5, "aux2_loss": 2.25,
            "val_loss": 2.75, "val_logits_loss": 1.5, "val_logits_accuracy": 0.625, "val_aux1_loss": 2.0,
            "val_aux2_loss": 1.75}
    row = metrics_row(0, logs, lr=0.01, seconds=2.0, train_seconds=1.0, images=100)
    assert row["loss"] == 2.0 and row["accuracy"] == 0.5 and row["val_loss"] == 1.5 and row["val_accuracy"] == 0.625
    assert list(row) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss", "learning_rate", "epoch_seconds",
                         "images_per_second", "total_loss", "val_total_loss", "aux1_loss", "val_aux1_loss",
                         "aux2_loss", "val_aux2_loss"]
    assert (row["total_loss"], row["val_total_loss"], row["aux1_loss"], row["val_aux2_loss"]) == (3.0, 2.75, 2.5, 1.75)
    header = runs.metrics_csv([row]).splitlines()[0].split(",")
    assert header == runs.COLUMNS + ["total_loss", "val_total_loss", "aux1_loss", "val_aux1_loss", "aux2_loss",
                                     "val_aux2_loss"]


def test_format_row():
    row = {"epoch": 3, "loss": 0.51234, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.75, "learning_rate": 0.0125,
           "epoch_seconds": 12.345, "images_per_second": 1234.56}
    assert format_row(row, 10) == ("epoch 3/10: loss 0.5123 accuracy 0.8000 val_loss 0.6000 val_accuracy 0.7500 "
                                   "lr 0.0125 12.3 s 1234.6 images/s")
    bare = {"epoch": 1, "loss": 2.0, "learning_rate": 0.1, "epoch_seconds": 0.04, "images_per_second": None}
    assert format_row(bare, 1) == "epoch 1/1: loss 2.0000 lr 0.1 0.0 s"


def small_model():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


@pytest.mark.e2e
def test_backup_commits_each_epoch(tmp_path):
    import keras

    run = str(tmp_path / "run")
    os.makedirs(run)
    lines, history = [], []
    backup = make_backup_callback(run, True, str(tmp_path / "unused"), history, 2, 640, lines.append)
    assert isinstance(backup, keras.callbacks.Callback)
    backup.set_model(small_model())
    for epoch in range(2):
        backup.on_epoch_begin(epoch)
        backup.on_test_begin()
        backup.on_epoch_end(epoch, {"loss": 1.0 - epoch / 4, "val_loss": 1.25})
    ckpt = runs.read_checkpoint(run)
    assert ckpt["epoch"] == 2 and ckpt["weights"] == "epoch-0002.weights.h5" and ckpt["history"] == history
    assert sorted(os.listdir(os.path.join(run, "backup"))) == ["checkpoint.json", "epoch-0002.weights.h5"]
    assert [r["epoch"] for r in history] == [1, 2] and history[1]["loss"] == 0.75
    assert history[0]["learning_rate"] == pytest.approx(0.05)
    assert (tmp_path / "run" / "metrics.csv").read_text() == runs.metrics_csv(history)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["status"] == "running" and state["epochs_done"] == 2 and state["epochs"] == 2
    assert lines == [format_row(r, 2) for r in history]
    assert not os.path.exists(tmp_path / "unused")


@pytest.mark.e2e
def test_backup_of_a_worker_writes_only_its_own_directory(tmp_path):
    run, tmp = str(tmp_path / "run"), str(tmp_path / "run" / "backup" / ".worker-1-tmp")
    os.makedirs(run)
    lines, history = [], []
    backup = make_backup_callback(run, False, tmp, history, 1, 640, lines.append)
    backup.set_model(small_model())
    backup.on_epoch_begin(0)
    backup.on_epoch_end(0, {"loss": 1.0})
    assert sorted(os.listdir(tmp)) == ["checkpoint.json", "epoch-0001.weights.h5"]
    assert sorted(os.listdir(run)) == ["backup"] and os.listdir(os.path.join(run, "backup")) == [".worker-1-tmp"]
    assert lines == [] and len(history) == 1


@pytest.mark.e2e
def test_progress_lines(monkeypatch):
    """In logs: once the time an epoch and the run should take (the first step, which compiles, left out of
    the rate), then a line every `every` seconds with the time left in the epoch and in the run."""
    import keras

    from inception_keras.engine import callbacks

    lines = []
    progress = make_progress_callback(epochs=3, steps=10, batch=4, log=lines.append, every=30.0)
    assert isinstance(progress, keras.callbacks.Callback)
    clock = iter([100.0, 100.0, 101.0, 109.0, 141.0])
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    progress.on_epoch_begin(1)  # two readings: the epoch's start and the last line's
    progress.on_train_batch_end(0, {"loss": 0.9})  # 101 s: the first step ends (compilation)
    progress.on_train_batch_end(4, {"loss": 0.5})  # 109 s: 4 steps of 4 images in 8 s; too soon for a line
    progress.on_train_batch_end(8, {"loss": 0.5})  # 141 s: 8 steps in 40 s
    assert lines == ["expected: 20 s per epoch of training (2.0 images/s), about 30 s for the 2 epochs left, plus "
                     "validation",
                     "  epoch 2/3: batch 9/10 (90%), loss 0.5000, 0.8 images/s, 5 s left in the epoch, 55 s in the "
                     "run"]


def test_progress_on_a_terminal_redraws_one_status_line_and_clears_it():
    import io

    from inception_keras.engine.callbacks import Progress

    lines, screen = [], io.StringIO()
    p = Progress(epochs=2, steps=10, batch=4, log=lines.append, tty=True, stream=screen, redraw=0.0)
    p.on_epoch_begin(0)
    for i in range(10):
        p.on_train_batch_end(i, {"loss": 1.0 / (i + 1)})
    p.on_epoch_end(0)
    out = screen.getvalue()
    status = [part for part in out.split("\r") if part.strip()]
    assert status and all(s.strip().startswith("epoch 1/2: batch ") for s in status)
    assert "left in the epoch" in status[-1] and "in the run" in status[-1]
    assert out.endswith("\r") and out.rstrip("\r").endswith(" ")  # cleared before the epoch's own line
    assert len(lines) == 1 and lines[0].startswith("expected: ")  # said once, as a line of its own
    assert "for the 2 epochs left" in lines[0]

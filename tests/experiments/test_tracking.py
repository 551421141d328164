"""Tracking where people look: every run's TensorBoard HParams session (its resolved keys, read back with
TensorBoard's own readers) and MLflow logging of finished runs into a real local store (params from config.yaml,
metrics per epoch equal to metrics.csv, the model as an artifact; MLFLOW_TRACKING_URI respected)."""
from __future__ import annotations

import csv
import glob
import os

import pytest
from conftest import cli

from inception_keras import runs
from inception_keras.engine.callbacks import hparams_values

pytestmark = pytest.mark.e2e  # the runs are trained by the command line


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One real run of the tiny network, 2 epochs."""
    from conftest import TINY_ARCH, TINY_RECIPE, write_bars

    tmp = tmp_path_factory.mktemp("tracking")
    data = write_bars(str(tmp / "data"), n_train=320, n_test=96)
    (tmp / "tiny.yaml").write_text(TINY_ARCH)
    (tmp / "recipe.yaml").write_text(TINY_RECIPE.replace("DATA", data))
    r = cli("train", "--arch", tmp / "tiny.yaml", "--recipe", tmp / "recipe.yaml", "--run-dir", tmp / "run",
            "--set", "epochs=2", "--set", "optimizer.learning_rate=0.02")
    assert r.returncode == 0, r.stderr
    return str(tmp / "run")


def test_the_run_has_an_hparams_session_with_its_resolved_keys(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    files = glob.glob(os.path.join(run_dir, "tensorboard", "events.out.tfevents.*"))
    assert len(files) == 1
    acc = EventAccumulator(files[0])
    acc.Reload()
    content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    got = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    expected = hparams_values(runs.read_config(run_dir))
    assert got["recipe.optimizer.learning_rate"] == pytest.approx(0.02)
    assert got["recipe.epochs"] == 2 and got["arch.name"] == "tiny"
    assert set(got) == set(expected) and len(got) > 20
    assert start.group_name == "run"  # the trial id: the run directory's name
    # the metrics the dashboard shows: the scalars beside it, the last epoch the final value
    val = EventAccumulator(os.path.join(run_dir, "tensorboard", "validation"))
    val.Reload()
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        last = list(csv.DictReader(f))[-1]
    from tensorboard.util.tensor_util import make_ndarray

    events = val.Tensors("epoch_accuracy")
    assert [e.step for e in events] == [1, 2]
    assert float(make_ndarray(events[-1].tensor_proto)) == pytest.approx(float(last["val_accuracy"]), abs=1e-4)


def test_mlflow_logs_a_run_into_a_local_store_once(run_dir, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from inception_keras.experiments.tracking import TAG, log_run

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rid = log_run(run_dir, runs_root=str(tmp_path / "runs"), experiment="tiny")
    store = tmp_path / "runs" / "mlruns"
    assert store.is_dir()
    client = mlflow.MlflowClient("file:" + str(store))
    run = client.get_run(rid)
    assert run.data.tags[TAG] == os.path.abspath(run_dir) and run.info.status == "FINISHED"
    assert run.data.params["recipe.optimizer.learning_rate"] == "0.02"
    assert run.data.params["recipe.epochs"] == "2"
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    history = client.get_metric_history(rid, "val_accuracy")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == \
        [(int(r["epoch"]), pytest.approx(float(r["val_accuracy"]))) for r in rows]
    artifacts = {a.path for a in client.list_artifacts(rid)}
    assert {"model.keras", "config.yaml", "metrics.csv"} <= artifacts
    local = client.download_artifacts(rid, "model.keras", str(tmp_path))
    assert open(local, "rb").read() == open(os.path.join(run_dir, "model.keras"), "rb").read()
    assert log_run(run_dir, runs_root=str(tmp_path / "runs"), experiment="tiny") == rid  # not logged twice
    assert len(client.search_runs([run.info.experiment_id])) == 1

    # MLFLOW_TRACKING_URI wins over the default store (here another local store, as a server would)
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:" + str(other))
    rid2 = log_run(run_dir, runs_root=str(tmp_path / "runs"), experiment="tiny")
    assert rid2 != rid and mlflow.MlflowClient("file:" + str(other)).get_run(rid2).data.params["recipe.epochs"] == "2"


def test_the_track_command_logs_a_search_directorys_runs(run_dir, tmp_path):
    pytest.importorskip("mlflow")
    r = cli("track", run_dir, "--runs-root", tmp_path / "runs", "--experiment", "cmd")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("logged") == 1 and os.path.isdir(tmp_path / "runs" / "mlruns")
    from inception_keras.errors import ConfigError
    from inception_keras.experiments.tracking import log_paths

    with pytest.raises(ConfigError, match="not a finished run; MLflow gets finished runs only"):
        log_paths([str(tmp_path / "nothing")], str(tmp_path / "runs"))


# ----------------------------------------------------------------------------- bounded and clean (issue 33, item 5)


def _copy(run_dir, tmp_path, name: str) -> str:
    import shutil

    target = os.path.join(str(tmp_path), os.fsdecode(name))  # bytes that are not UTF-8: surrogate-escaped
    shutil.copytree(run_dir, target)
    return target


METRICS_CASES = [  # (what metrics.csv becomes, the error)
    (None, r"metrics\.csv: cannot read: metrics file not found; the run is not logged to MLflow"),
    (b"\xff\xfe garbage\n", r"metrics\.csv: not a text file \(not UTF-8\); the run is not logged"),
    (b"epoch,loss\n", r"metrics\.csv: no epochs recorded; the run is not logged"),
]


@pytest.mark.parametrize("content, message", METRICS_CASES, ids=["missing", "not-utf8", "no-epochs"])
def test_a_run_without_readable_metrics_is_refused_before_mlflow(run_dir, tmp_path, monkeypatch, content, message):
    pytest.importorskip("mlflow")
    from inception_keras.errors import ConfigError
    from inception_keras.experiments.tracking import log_run

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = _copy(run_dir, tmp_path, "run")
    os.remove(os.path.join(run, "metrics.csv"))
    if content is not None:
        with open(os.path.join(run, "metrics.csv"), "wb") as f:
            f.write(content)
    with pytest.raises(ConfigError, match=message):
        log_run(run, runs_root=str(tmp_path / "runs"))
    assert not (tmp_path / "runs" / "mlruns").exists()  # nothing logged, no store made


def test_a_cell_that_is_not_a_number_is_warned_about_and_left_out(run_dir, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from inception_keras.experiments.tracking import log_run

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = _copy(run_dir, tmp_path, "run")
    path = os.path.join(run, "metrics.csv")
    with open(path) as f:
        lines = f.read().splitlines()
    head = lines[0].split(",")
    cells = lines[1].split(",")
    cells[head.index("val_accuracy")] = "abc"
    with open(path, "w") as f:
        f.write("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    said = []
    rid = log_run(run, runs_root=str(tmp_path / "runs"), warn=lambda file, message: said.append((file, message)))
    assert said and said[0][0] == path and "val_accuracy='abc' (line 2)" in said[0][1], said
    history = mlflow.MlflowClient("file:" + str(tmp_path / "runs" / "mlruns")).get_metric_history(rid, "val_accuracy")
    assert [m.step for m in history] == [2]  # epoch 1's cell was not a number: left out, not logged as 0 or NaN


@pytest.mark.parametrize("name, shown", [(b"run\xff", "run\\xff"), ("it's", "it's")])
def test_odd_run_names_are_logged_once_under_their_shown_name(run_dir, tmp_path, monkeypatch, name, shown):
    mlflow = pytest.importorskip("mlflow")
    from inception_keras.experiments.tracking import log_run

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = _copy(run_dir, tmp_path, name)
    rid = log_run(run, runs_root=str(tmp_path / "runs"))
    assert log_run(run, runs_root=str(tmp_path / "runs")) == rid  # found again: not logged twice
    got = mlflow.MlflowClient("file:" + str(tmp_path / "runs" / "mlruns")).get_run(rid)
    assert got.info.run_name == shown


def _silent_server():
    """A listening socket that accepts connections and never answers (a hung tracking server)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in iter(int, 1)], daemon=True).start()
    return server


def _closed_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("uri, message, seconds", [
    ("CLOSED", r"MLflow tracking at http://127\.0\.0\.1:\d+ failed: MlflowException: .*Max retries exceeded", 10),
    ("SILENT", r"MLflow tracking at http://127\.0\.0\.1:\d+ failed: MlflowException: .*", 20),
    ("foo://x", r"MLflow tracking at foo://x failed: Unsupported", 10),
    ("http://", r"MLflow tracking at http:// failed: ", 10),
    ("FILE", r"MLflow tracking at file:.*victim\.txt failed: NotADirectoryError", 10),
], ids=["closed-port", "silent-server", "unknown-scheme", "no-host", "file-store-on-a-file"])
def test_unreachable_or_odd_tracking_uris_fail_in_seconds_with_one_error(run_dir, tmp_path, monkeypatch, uri,
                                                                         message, seconds):
    import time

    pytest.importorskip("mlflow")
    from inception_keras.errors import ConfigError
    from inception_keras.experiments.tracking import log_run

    for name in ("TIMEOUT", "MAX_RETRIES", "BACKOFF_FACTOR", "BACKOFF_JITTER"):
        monkeypatch.delenv("MLFLOW_HTTP_REQUEST_" + name, raising=False)  # the module's defaults, not the user's
    if uri == "SILENT":
        server = _silent_server()
        uri = f"http://127.0.0.1:{server.getsockname()[1]}"
    elif uri == "CLOSED":
        uri = f"http://127.0.0.1:{_closed_port()}"
    elif uri == "FILE":
        (tmp_path / "victim.txt").write_text("someone's file\n")
        uri = "file:" + str(tmp_path / "victim.txt")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=message) as e:
        log_run(run_dir, runs_root=str(tmp_path / "runs"))
    assert time.perf_counter() - start < seconds and "\n" not in str(e.value)
    assert not uri.startswith("file:") or (tmp_path / "victim.txt").read_text() == "someone's file\n"


def test_track_on_a_closed_port_is_one_error_line_exit_2(run_dir, tmp_path):
    r = cli("track", run_dir, "--runs-root", tmp_path, env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{_closed_port()}"},
            timeout=120)
    errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert r.returncode == 2 and len(errors) == 1 and "Traceback" not in r.stderr, r.stderr

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

pytestmark = pytest.mark.e2e


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

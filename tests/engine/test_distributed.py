"""Multi-worker training: two real worker processes on localhost with TF_CONFIG (issue: scale out)."""
from __future__ import annotations

import csv
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from conftest import ROOT, TINY_RECIPE, write_bars

pytestmark = pytest.mark.e2e


def free_ports(n: int) -> list[int]:
    """Ports free a moment ago. Another process may take one before a worker binds it (under -n auto): the
    worker then fails with "Could not start gRPC server" and `workers` starts the cluster again on new ports.
    (TensorFlow's server refuses SO_REUSEPORT, so the port cannot stay reserved here while the worker binds.)"""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


BIND_FAILED = "Could not start gRPC server"


def workers(tiny, recipe, run_dir, until=None, attempts=3, timeout=600):
    """Start two workers and wait, with a deadline, until both end (or `until()` holds); a cluster whose port was
    taken is started again. Returns the processes, alive where `until` stopped the wait, else communicated."""
    for _ in range(attempts):
        procs = start_workers(tiny, recipe, run_dir)
        deadline = time.time() + timeout
        while time.time() < deadline and any(p.poll() is None for p in procs):
            if any(p.poll() not in (None, 0) for p in procs) or (until is not None and until()):
                break
            time.sleep(0.1)
        if until is not None and all(p.poll() is None for p in procs):
            return procs, None
        for p in procs:
            if p.poll() is None:
                p.kill()
        results = [p.communicate(timeout=60) for p in procs]
        if not any(BIND_FAILED in err for _, err in results):
            return procs, results
    raise AssertionError(f"{attempts} clusters failed to bind their ports")


def start_workers(tiny, recipe, run_dir, n=2):
    ports = free_ports(n)
    procs = []
    for index in range(n):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker",
                                                                                         "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT,
                   CUDA_VISIBLE_DEVICES="")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "inception_keras", "train", "--arch", tiny["arch"], "--recipe", str(recipe),
             "--run-dir", str(run_dir)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def h5_arrays(path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, np.array(obj)) if isinstance(obj, h5py.Dataset)
                     else None)
    return out


def metric_rows(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def test_two_workers_train_together(tiny):
    recipe = tiny["tmp"] / "two.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", tiny["data"]).replace("epochs: 3", "epochs: 2")
                      + "augment: {flip: true, translate: 0.1, erase: {}}\n")  # each worker augments its shard
    run = tiny["tmp"] / "mw"
    procs, results = workers(tiny, recipe, run)
    for p, (out, err) in zip(procs, results):
        print(out[-2000:], err[-4000:])
        assert p.returncode == 0, err
    chief_out, worker_out = results[0][0], results[1][0]
    assert "epoch 2/2" in chief_out and worker_out == ""  # only the chief reports
    csvs = glob.glob(str(tiny["tmp"] / "**" / "metrics.csv"), recursive=True)
    assert csvs == [str(run / "metrics.csv")]
    assert [r["epoch"] for r in metric_rows(run)] == ["1", "2"]
    env = json.loads((run / "env.json").read_text())
    assert env["workers"] == 2 and env["replicas"] == 2 and env["strategy"] == "multi_worker_mirrored"
    assert env["task"] == "worker:0"
    assert sorted(os.listdir(run)) == ["backup", "config.yaml", "env.json", "metrics.csv", "model.keras",
                                       "state.json", "tensorboard"]  # a finished run keeps no .lock
    chief = h5_arrays(run / "backup" / "epoch-0002.weights.h5")
    worker = h5_arrays(run / "backup" / ".worker-1-tmp" / "epoch-0002.weights.h5")
    assert chief.keys() == worker.keys() and len(chief) > 10
    for name in chief:
        assert np.array_equal(chief[name], worker[name]), name
    first = metric_rows(run)[0]
    assert float(first["loss"]) > 0 and first["val_accuracy"] != ""


def test_killed_workers_resume_from_the_last_epoch(tiny):
    data = write_bars(str(tiny["tmp"] / "more"), n_train=2000, n_test=100)
    recipe = tiny["tmp"] / "four.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", data).replace("epochs: 3", "epochs: 4"))
    run = tiny["tmp"] / "mwk"
    procs, results = workers(tiny, recipe, run, until=lambda: (run / "metrics.csv").exists()
                             and len(metric_rows(run)) >= 1)
    assert results is None, [err[-2000:] for _, err in results]  # both alive after the first epoch
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.wait()
    done = len(metric_rows(run))
    assert 1 <= done < 4
    procs, results = workers(tiny, recipe, run)
    for p, (_out, err) in zip(procs, results):
        assert p.returncode == 0, err
    assert f"resuming after epoch {done}" in results[0][0]
    assert [int(r["epoch"]) for r in metric_rows(run)] == [1, 2, 3, 4]
    chief = h5_arrays(run / "backup" / "epoch-0004.weights.h5")  # docs/distributed.md: the same weights after all
    worker = h5_arrays(run / "backup" / ".worker-1-tmp" / "epoch-0004.weights.h5")
    assert chief.keys() == worker.keys() and len(chief) > 10
    assert all(np.array_equal(chief[name], worker[name]) for name in chief)
    assert json.loads((run / "state.json").read_text())["status"] == "finished"


def test_mirrored_and_two_workers_equal_one_device(tiny):
    """The same recipe (global batch 32, seed 1, no augmentation) on one device, mirrored over two logical CPUs
    and on two workers: every epoch's metrics and the final weights agree to float round-off (the replicas'
    gradients are summed in another order). Measured: weights within 1.8e-7 (mirrored) and 1.8e-7 (two
    workers) absolute, metrics equal to the CSV's 6 digits; held to 1e-6 and 2e-5 relative."""
    from conftest import cli

    recipe = tiny["tmp"] / "same.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", tiny["data"]).replace("epochs: 3", "epochs: 2"))
    runs = {name: tiny["tmp"] / name for name in ("one", "mirrored", "workers")}
    for name, extra in (("one", ["--strategy", "one_device"]),
                        ("mirrored", ["--strategy", "mirrored", "--set", "cpu_devices=2"])):
        r = cli("train", "--arch", tiny["arch"], "--recipe", recipe, "--run-dir", runs[name], *extra)
        assert r.returncode == 0, r.stderr
    assert "2 replica(s)" in r.stdout  # the mirrored run: env.json records the strategy and its devices
    env = json.loads((runs["mirrored"] / "env.json").read_text())
    assert env["strategy"] == "mirrored" and env["strategy_class"] == "MirroredStrategy"
    assert env["devices"] == ["/job:localhost/replica:0/task:0/device:CPU:0",
                              "/job:localhost/replica:0/task:0/device:CPU:1"]
    for p, (_out, err) in zip(*workers(tiny, recipe, runs["workers"])):
        assert p.returncode == 0, err
    assert [json.loads((runs[n] / "env.json").read_text())["replicas"] for n in runs] == [1, 2, 2]
    keys = ["loss", "accuracy", "val_loss", "val_accuracy"]
    want = [[float(r[k]) for k in keys] for r in metric_rows(runs["one"])]
    weights = h5_arrays(runs["one"] / "backup" / "epoch-0002.weights.h5")
    assert len(want) == 2 and len(weights) > 10
    for name in ("mirrored", "workers"):
        got = [[float(r[k]) for k in keys] for r in metric_rows(runs[name])]
        assert np.allclose(got, want, rtol=2e-5, atol=0), (name, got, want)
        theirs = h5_arrays(runs[name] / "backup" / "epoch-0002.weights.h5")
        assert theirs.keys() == weights.keys()
        worst = max(float(np.max(np.abs(theirs[k] - weights[k]))) for k in weights if weights[k].dtype.kind == "f")
        print(f"{name}: weights within {worst:.2g} of one device's")
        assert worst <= 1e-6, (name, worst)

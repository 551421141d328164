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
from conftest import ROOT, TINY_RECIPE, write_bars


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


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
    procs = start_workers(tiny, recipe, run)
    results = [p.communicate(timeout=600) for p in procs]
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
    procs = start_workers(tiny, recipe, run)
    deadline = time.time() + 400
    while time.time() < deadline:
        if (run / "metrics.csv").exists() and len(metric_rows(run)) >= 1:
            break
        assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs]
        time.sleep(0.05)
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.wait()
    done = len(metric_rows(run))
    assert 1 <= done < 4
    procs = start_workers(tiny, recipe, run)
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, results):
        assert p.returncode == 0, err
    assert f"resuming after epoch {done}" in results[0][0]
    assert [int(r["epoch"]) for r in metric_rows(run)] == [1, 2, 3, 4]
    assert json.loads((run / "state.json").read_text())["status"] == "finished"

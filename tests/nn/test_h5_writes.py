"""Issue 33, item 6: crash-proof writing. HDF5's own writer segfaults (exit 139) when a write fails under it (a
file-size limit, a full disk); nn/h5.py builds the `.weights.h5` in memory and writes it with os.write, so the same
limit is an OSError: `import-weights` exits 2 with one error line and leaves no file, `train` stops with its
"cannot write the run directory" message. The `.tmp-PID-NAME` files a killed writer leaves are removed by the next
write in that folder, and only those of processes that are gone."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT
from test_weights_checked import BN_TINY, tiny_state

from inception_keras import safeio, writing

LIMIT = 8192  # bytes: far below the tiny network's weights file (about 21 KB)


def limited(argv, cwd):
    """A real process under RLIMIT_FSIZE (set in the child before exec); returns the CompletedProcess."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))

    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=limit)


@pytest.mark.e2e
@pytest.mark.parametrize("out", ["m.weights.h5", "m.keras"])
def test_import_under_a_file_size_limit_is_one_error_and_no_file(tmp_path, out):
    (tmp_path / "bn.yaml").write_text(BN_TINY)
    np.savez(tmp_path / "s.npz", **tiny_state())
    p = limited(["-m", "inception_keras", "import-weights", "timm", "s.npz", "--arch", "bn.yaml", "--out", out],
                tmp_path)
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])  # before: -11 (SIGSEGV) for .weights.h5
    errors = [x for x in p.stderr.splitlines() if x.startswith("error:")]
    assert errors == [f"error: --out {out}: cannot write: File too large"], p.stderr[-2000:]
    assert sorted(os.listdir(tmp_path)) == ["bn.yaml", "s.npz"]


@pytest.mark.e2e
def test_the_in_memory_file_is_what_keras_writes_and_reads(tmp_path):
    import keras

    from inception_keras.nn.h5 import save_weights

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    model.set_weights([np.random.default_rng(i).normal(size=w.shape) for i, w in enumerate(model.get_weights())])
    save_weights(model, str(tmp_path / "ours.weights.h5"))
    model.save_weights(str(tmp_path / "keras.weights.h5"))
    for name in ("ours", "keras"):
        other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
        other.load_weights(str(tmp_path / f"{name}.weights.h5"))
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), other.get_weights()))
    with pytest.raises(FileExistsError):  # a new file only: never over another, never through a link
        save_weights(model, str(tmp_path / "ours.weights.h5"))


@pytest.mark.e2e
def test_training_under_a_file_size_limit_stops_with_its_message(tmp_path):
    from conftest import TINY_ARCH, TINY_RECIPE, write_bars

    data = write_bars(str(tmp_path / "data"), 64, 32)
    (tmp_path / "a.yaml").write_text(TINY_ARCH)
    (tmp_path / "r.yaml").write_text(TINY_RECIPE.replace("DATA", data).replace("epochs: 3", "epochs: 1"))
    p = limited(["-m", "inception_keras", "train", "--arch", "a.yaml", "--recipe", "r.yaml", "--run-dir", "run"],
                tmp_path)
    assert p.returncode == 1 and "Traceback" not in p.stderr, (p.returncode, p.stderr[-2000:])  # before: -11
    assert "error: cannot write the run directory (File too large) in epoch 1" in p.stderr
    assert not [f for _, _, fs in os.walk(tmp_path / "run") for f in fs if "tmp" in f]  # no half-written file


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.e2e  # a child process is started and killed, to leave its temporary file behind
def test_stale_temporaries_of_dead_processes_are_removed_by_the_next_write(tmp_path):
    old = time.time() - 2 * safeio.STALE_SECONDS
    dead, live = dead_pid(), subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        planted = {
            f".tmp-{dead}-a.weights.h5": True,  # a killed writer's file: removed
            f".tmp-{dead}-sm": True,  # a killed SavedModel export's folder: removed
            f".tmp-{live.pid}-b.keras": False,  # a running writer's file: kept
            f".tmp-{dead}-fresh.png": False,  # touched within STALE_SECONDS (a writer elsewhere on a shared disk)
            f".tmp-{dead}-fifo": False,  # not a file we write: kept
            "tmp-1-user.txt": False,  # the user's own file
        }
        for name in planted:
            path = tmp_path / name
            if name.endswith("-sm"):
                path.mkdir()
                (path / "saved_model.pb").write_bytes(b"x")
            elif name.endswith("-fifo"):
                os.mkfifo(path)
            else:
                path.write_bytes(b"half a file")
            if "fresh" not in name:
                os.utime(path, (old, old), follow_symlinks=False)
        writing.write_new(str(tmp_path / "out.json"), "{}\n", writing.JSON)  # every output goes through writing
        left = set(os.listdir(tmp_path))
        assert left == {"out.json"} | {n for n, removed in planted.items() if not removed}
    finally:
        live.kill()
        live.wait()


@pytest.mark.e2e
def test_import_onto_a_full_tmpfs_is_one_error_and_no_file(tmp_path):
    """A real full file system: a 12 KiB tmpfs in a private mount namespace (before: a RuntimeError traceback
    from HDF5, exit 1)."""
    from test_runs import private_tmpfs

    if not private_tmpfs():
        pytest.skip("no private tmpfs here (user namespaces refused)")
    (tmp_path / "bn.yaml").write_text(BN_TINY)
    np.savez(tmp_path / "s.npz", **tiny_state())
    (tmp_path / "disk").mkdir()
    script = (f'mount -t tmpfs -o size=12k tmpfs disk && "{sys.executable}" -m inception_keras import-weights timm '
              's.npz --arch bn.yaml --out disk/m.weights.h5; echo "rc=$?"; ls -A disk')
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    p = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.stdout.strip() == "rc=2", (p.stdout, p.stderr[-2000:])  # and the disk empty: no file, no temporary
    errors = [x for x in p.stderr.splitlines() if x.startswith("error:")]
    assert errors == ["error: --out disk/m.weights.h5: cannot write: No space left on device"], p.stderr[-2000:]

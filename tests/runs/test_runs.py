"""Run directories: nothing lost, nothing restarted by accident, a resumed run the run it continues, continued
and warm-started runs, TensorBoard, progress, full disks (issues: harden the run directory; a new user's first
hour)."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, TINY_ARCH, TINY_RECIPE, cli, write_bars
from test_train import rows, run_until

pytestmark = pytest.mark.e2e

DROPOUT_ARCH = TINY_ARCH.replace("  head:\n    - dense: {}\n", "  head:\n    - dropout: {rate: 0.3}\n    - dense: {}\n")
MEASURED = ["loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]  # not the seconds


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The data, a tiny network with dropout and its recipe, written once for the module."""
    where = tmp_path_factory.mktemp("runs-module")
    data = write_bars(str(where / "data"), n_train=640, n_test=100)
    arch = where / "drop.yaml"
    arch.write_text(DROPOUT_ARCH)
    recipe = where / "recipe.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", data) + "augment: {flip: true, translate: 0.125}\n")
    return {"arch": str(arch), "recipe": str(recipe), "module": where}


@pytest.fixture
def setup(files, tmp_path):
    return {**files, "tmp": tmp_path}


@pytest.fixture(scope="module")
def interrupted_once(files):
    """A 3-epoch run killed (SIGKILL) once epoch 2 is committed; tests get copies (`interrupted_run`)."""
    run = files["module"] / "interrupted"
    run_until(["train", "--arch", files["arch"], "--recipe", files["recipe"], "--run-dir", str(run), "--set",
               "epochs=3"], str(run), 2)
    assert len(rows(run)) == 2
    return run


def train(setup, run, *extra):
    return ["train", "--arch", setup["arch"], "--recipe", setup["recipe"], "--run-dir", str(run), *extra]


def measured(run_dir) -> list[dict]:
    return [{k: r[k] for k in ["epoch", *MEASURED]} for r in rows(run_dir)]


def digest(run_dir) -> dict:
    out = {}
    for path in sorted(glob.glob(os.path.join(str(run_dir), "**"), recursive=True)):
        if os.path.isfile(path):
            out[os.path.relpath(path, run_dir)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


def test_killed_resumed_and_extended_run_equals_the_uninterrupted_run(setup):
    """Killed after epoch 1 and resumed, then continued from 2 to 4 epochs with --resume --set epochs=4: the
    metrics of every epoch equal those of one uninterrupted 4-epoch run (data order, augmentation and dropout's
    random state are restored; the network has dropout, the recipe flips and shifts images)."""
    whole = setup["tmp"] / "whole"
    r = cli(*train(setup, whole, "--set", "epochs=4"))
    assert r.returncode == 0, r.stderr
    parts = setup["tmp"] / "parts"
    run_until(train(setup, parts, "--set", "epochs=2"), str(parts), 1)  # SIGKILL after epoch 1 is committed
    assert len(rows(parts)) == 1
    r = cli(*train(setup, parts, "--set", "epochs=2"))
    assert r.returncode == 0 and "resuming after epoch 1" in r.stdout, r.stderr
    r = cli("train", "--resume", parts, "--set", "epochs=4")
    assert r.returncode == 0, r.stderr
    assert "training to 4 epochs (config.yaml said 2; 2 done)" in r.stdout
    assert measured(parts) == measured(whole)
    config = (parts / "config.yaml").read_text()
    assert "epochs: 4" in config and not (parts / ".lock").exists()
    state = json.loads((parts / "state.json").read_text())
    assert state["status"] == "finished" and state["epochs_done"] == 4
    again = cli("train", "--resume", parts, "--set", "epochs=3")
    assert again.returncode == 2 and "has 4 epoch(s) done; give more" in again.stderr


@pytest.fixture
def interrupted_run(interrupted_once, tmp_path) -> str:
    run = tmp_path / "run"
    shutil.copytree(interrupted_once, run)
    return str(run)


@pytest.mark.parametrize("damage", ["deleted", "empty object", "null", "list", "missing keys"])
def test_a_lost_commit_record_never_restarts_a_run(interrupted_run, damage):
    run = interrupted_run
    path = os.path.join(run, "backup", "checkpoint.json")
    content = {"deleted": None, "empty object": "{}", "null": "null", "list": "[1]",
               "missing keys": '{"epoch": 2}'}[damage]
    if content is None:
        os.remove(path)
    else:
        open(path, "w").write(content)
    before = digest(run)
    r = cli("train", "--resume", run)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "metrics.csv with 2 epoch row(s)" in r.stderr and "backup/epoch-0002.weights.h5" in r.stderr
    assert "Nothing was changed" in r.stderr and f"--resume {run} --recover" in r.stderr
    assert digest(run) == before  # not a byte changed
    if damage == "deleted":  # what the message proposes works (once is enough: the record is rebuilt alike)
        r = cli("train", "--resume", run, "--recover")
        assert r.returncode == 0, r.stderr
        assert [m["epoch"] for m in rows(run)] == ["1", "2", "3"]


def test_recover_skips_weights_that_do_not_open(interrupted_run):
    run = interrupted_run
    backup = os.path.join(run, "backup")
    os.remove(os.path.join(backup, "checkpoint.json"))
    shutil.copy(os.path.join(backup, "epoch-0002.weights.h5"), os.path.join(backup, "epoch-0001.weights.h5"))
    with open(os.path.join(backup, "epoch-0002.weights.h5"), "r+b") as f:
        f.truncate(1000)  # the newest weights are broken: epoch 1's are used
    r = cli("train", "--resume", run, "--recover")
    assert r.returncode == 0, r.stderr
    assert "resuming after epoch 1" in r.stdout
    assert [m["epoch"] for m in rows(run)] == ["1", "2", "3"]


def test_recover_keeps_the_damaged_record_as_broken(interrupted_run):
    """docs/runs.md: `--recover` keeps the damaged commit record as checkpoint.json.broken, byte for byte."""
    path = os.path.join(interrupted_run, "backup", "checkpoint.json")
    open(path, "w").write('{"epoch": 2')  # cut short: not JSON
    r = cli("train", "--resume", interrupted_run, "--recover")
    assert r.returncode == 0, r.stderr
    assert "resuming after epoch 2" in r.stdout and open(path + ".broken").read() == '{"epoch": 2'
    assert json.loads(open(path).read())["epoch"] == 3
    assert [m["epoch"] for m in rows(interrupted_run)] == ["1", "2", "3"]


def test_a_second_process_is_refused_while_one_trains(interrupted_run):
    """docs/runs.md: while a process trains it holds `.lock`; a second one is refused (exit 2, one line) and
    changes nothing. Here this test process holds the flock as a training process would."""
    import fcntl

    before = digest(interrupted_run)
    fd = os.open(os.path.join(interrupted_run, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = cli("train", "--resume", interrupted_run)
    finally:
        os.close(fd)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip() == f"error: {interrupted_run}: another process is training in this run directory"
    after = digest(interrupted_run)
    assert {k: v for k, v in after.items() if not k.endswith(".lock")} == \
           {k: v for k, v in before.items() if not k.endswith(".lock")}


def test_damaged_files_are_errors_naming_them(interrupted_run):
    run = interrupted_run
    weights = os.path.join(run, "backup", "epoch-0002.weights.h5")
    with open(weights, "r+b") as f:
        f.truncate(500)
    r = cli("train", "--resume", run)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"error: {weights}: cannot load these weights" in r.stderr
    r = cli("evaluate", run)
    assert r.returncode == 2 and f"{weights}: cannot load these weights" in r.stderr
    state = os.path.join(run, "state.json")
    open(state, "w").write("[1, 2]")
    r = cli("train", "--resume", run)
    assert r.returncode == 2 and f"{state}: expected a JSON object, found list [1, 2]" in r.stderr
    config = os.path.join(run, "config.yaml")
    open(config, "w").write("- a\n- b\n")
    r = cli("train", "--resume", run)
    assert r.returncode == 2 and f"{config}: expected a mapping with keys arch and recipe" in r.stderr


def test_finished_run_without_state_json_is_still_finished(setup):
    run = setup["tmp"] / "done"
    assert cli(*train(setup, run, "--set", "epochs=1")).returncode == 0
    os.remove(run / "state.json")
    model = (run / "model.keras").read_bytes()
    for args in (["train", "--resume", run], train(setup, run, "--set", "epochs=1")):
        r = cli(*args)
        assert r.returncode == 2 and "finished" in r.stderr and "never overwritten" in r.stderr
    assert (run / "model.keras").read_bytes() == model
    with open(run / "model.keras", "r+b") as f:
        f.truncate(100)
    r = cli("evaluate", run)
    assert r.returncode == 2 and "cannot load the model: not a readable .keras file" in r.stderr


def test_a_failed_start_leaves_no_skeleton(setup, tmp_path):
    broken = tmp_path / "broken"
    write_bars(str(broken), n_train=64, n_test=16)
    (broken / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not gzip")
    run = tmp_path / "never"
    r = cli("train", "--arch", setup["arch"], "--recipe", setup["recipe"], "--data-dir", broken, "--run-dir", run)
    assert r.returncode == 2 and "cannot read IDX file" in r.stderr
    assert not run.exists()


def test_warm_start_from_another_run(setup):
    first = setup["tmp"] / "first"
    assert cli(*train(setup, first, "--set", "epochs=2")).returncode == 0
    second = setup["tmp"] / "second"
    r = cli(*train(setup, second, "--set", "epochs=1", "--init-from", first))
    assert r.returncode == 0, r.stderr
    assert f"initialized 8 layer(s), 16 tensor(s), from {first}/model.keras; no layer starts fresh" in r.stdout
    config = (second / "config.yaml").read_text()
    assert f"init_from: {first}" in config
    # started from trained weights: its first epoch is better than the first run's first epoch
    assert float(rows(second)[0]["loss"]) < float(rows(first)[0]["loss"])
    # another number of classes: the head starts fresh, the rest is copied
    third = setup["tmp"] / "third"
    r = cli(*train(setup, third, "--set", "epochs=1", "--set", "arch.classes=12", "--init-from", first))
    assert r.returncode == 0, r.stderr
    assert "initialized 7 layer(s), 14 tensor(s)" in r.stdout, r.stdout
    assert "1 layer(s) start fresh: head.dense1 (shapes " in r.stdout and " 12 here, " in r.stdout
    r = cli(*train(setup, setup["tmp"] / "x", "--init-from", setup["tmp"] / "nothing"))
    assert r.returncode == 2 and "no such run directory or weights file" in r.stderr


def test_repeating_a_finished_command_says_so(setup):
    root = setup["tmp"] / "runs"
    args = ["train", "--arch", setup["arch"], "--recipe", setup["recipe"], "--runs-root", root, "--set", "epochs=1"]
    assert cli(*args).returncode == 0
    (first,) = os.listdir(root)
    r = cli(*args)
    assert r.returncode == 0
    assert f"note: {root / first} is a finished run of this configuration; this starts another one" in r.stdout


def tensorboard_scalars(directory) -> dict:
    import tensorflow as tf

    out: dict = {}
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                number = tf.make_ndarray(value.tensor) if value.HasField("tensor") else value.simple_value
                out.setdefault(value.tag, {})[event.step] = float(number)
    return out


def test_tensorboard_events_hold_the_csv_rows_and_progress_says_how_long(setup):
    run = setup["tmp"] / "tb"
    r = cli(*train(setup, run, "--set", "epochs=2"))
    assert r.returncode == 0, r.stderr
    train_events = tensorboard_scalars(run / "tensorboard" / "train")
    validation = tensorboard_scalars(run / "tensorboard" / "validation")
    csv_rows = rows(run)
    for key in ("loss", "accuracy", "learning_rate", "images_per_second"):
        assert train_events[f"epoch_{key}"] == {i + 1: pytest.approx(float(r[key]), rel=1e-4)
                                                for i, r in enumerate(csv_rows)}
    assert validation["epoch_accuracy"] == {i + 1: pytest.approx(float(r["val_accuracy"]), rel=1e-4)
                                            for i, r in enumerate(csv_rows)}
    (line,) = [ln for ln in r.stdout.splitlines() if ln.startswith("expected: ")]
    assert " per epoch of training (" in line and " images/s), about " in line and "for the 2 epochs left" in line


FILL = """\
set -u
mount -t tmpfs -o size=8m tmpfs "$DISK" || exit 97
cd "$ROOT"
"$PY" -m inception_keras train --arch "$ARCH" --recipe "$RECIPE" --run-dir "$DISK/run" >"$OUT/out1" 2>"$OUT/err1" &
pid=$!
while kill -0 $pid 2>/dev/null; do
  if [ -f "$DISK/run/metrics.csv" ] && [ "$(wc -l < "$DISK/run/metrics.csv")" -ge 3 ]; then break; fi
  sleep 0.05
done
dd if=/dev/zero of="$DISK/filler" bs=4k 2>/dev/null  # fills the disk to the last block
wait $pid; echo $? >"$OUT/rc1"
cp -a "$DISK/run" "$OUT/full"
rm "$DISK/filler"
"$PY" -m inception_keras train --arch "$ARCH" --recipe "$RECIPE" --run-dir "$DISK/run" >"$OUT/out2" 2>"$OUT/err2"
echo $? >"$OUT/rc2"
cp -a "$DISK/run" "$OUT/resumed"
"""


# Where a private tmpfs is refused (no user namespaces): the same run, its file-size limit (RLIMIT_FSIZE) lowered
# to 0 once 2 epochs are committed, so that every later write fails with EFBIG ("File too large"; Python ignores
# SIGXFSZ) from its first byte, as on a disk filled to the last block. (A limit met in the middle of a weights file
# crashed HDF5 with SIGSEGV, exit 139, until nn/h5.py wrote the file from memory: tests/nn/test_h5_writes.py.) A fresh
# process has no such limit: the same command resumes.
FILL_FSIZE = FILL.replace('mount -t tmpfs -o size=8m tmpfs "$DISK" || exit 97\n', "").replace(
    '>"$OUT/out1" 2>"$OUT/err1" &',  # the limit is the trainer's: its messages go through pipes to the files
    '>"$OUT/o.fifo" 2>"$OUT/e.fifo" &',
).replace('cd "$ROOT"\n', 'cd "$ROOT"\nmkfifo "$OUT/o.fifo" "$OUT/e.fifo"\n'
          'cat "$OUT/o.fifo" >"$OUT/out1" &\ncat "$OUT/e.fifo" >"$OUT/err1" &\n').replace(
    'wait $pid; echo $? >"$OUT/rc1"', 'wait $pid; echo $? >"$OUT/rc1"; wait').replace(
    'dd if=/dev/zero of="$DISK/filler" bs=4k 2>/dev/null  # fills the disk to the last block',
    '"$PY" -c "import resource, sys; resource.prlimit(int(sys.argv[1]), resource.RLIMIT_FSIZE, (0, 0))" $pid',
).replace('rm "$DISK/filler"\n', "")


def private_tmpfs() -> bool:
    """Whether a user namespace may mount a tmpfs here (unshare installed and not refused)."""
    if not shutil.which("unshare") or os.environ.get("INCEPTION_KERAS_TEST_NO_TMPFS"):
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True, timeout=60)
    return probe.returncode == 0


def test_a_full_disk_keeps_the_last_epoch_and_the_run_resumes(setup, tmp_path):
    """A real full file system (a small tmpfs in a private mount namespace) fills during training: one error
    line, exit 1, no temporary files, every committed epoch kept; freed, the same command resumes. Where the
    namespace is refused (or INCEPTION_KERAS_TEST_NO_TMPFS is set), a file-size limit stands in (FILL_FSIZE)."""
    tmpfs = private_tmpfs()
    data = write_bars(str(tmp_path / "bigger"), n_train=3000, n_test=100)
    recipe = tmp_path / "ten.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", data).replace("epochs: 3", "epochs: 10"))
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    env = dict(os.environ, DISK=str(disk), OUT=str(out), ROOT=ROOT, PY=sys.executable, ARCH=setup["arch"],
               RECIPE=str(recipe), PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    namespace = ["unshare", "--user", "--map-root-user", "--mount"] if tmpfs else []
    script = [*namespace, "sh", "-c", FILL if tmpfs else FILL_FSIZE]
    proc = subprocess.run(script, env=env, capture_output=True, text=True, timeout=500)
    assert (out / "rc1").exists() and (out / "rc2").exists(), f"the script stopped early: {proc.stderr[-2000:]}"
    err1 = (out / "err1").read_text()
    assert (out / "rc1").read_text().strip() == "1", err1
    assert "Traceback" not in err1 and err1.count("error:") == 1
    reason = "No space left on device" if tmpfs else "File too large"
    assert f"cannot write the run directory ({reason}" in err1
    full = out / "full"
    done = json.loads((full / "backup" / "checkpoint.json").read_text())["epoch"]
    assert 2 <= done < 10
    assert [int(m["epoch"]) for m in rows(full)] == list(range(1, done + 1))
    leftovers = [p for p in glob.glob(str(full / "**"), recursive=True) if ".tmp" in os.path.basename(p)
                 or ".write-test" in p]
    assert leftovers == []
    assert (out / "rc2").read_text().strip() == "0", (out / "err2").read_text()
    assert f"resuming after epoch {done}" in (out / "out2").read_text()
    assert [int(m["epoch"]) for m in rows(out / "resumed")] == list(range(1, 11))

"""Training: recipes, data, run directories, resuming, strategies, failures (issue: train on Fashion-MNIST)."""
from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from conftest import ROOT, TINY_RECIPE, bars, cli, write_bars, write_idx

from inception_keras.data import pipeline as D
from inception_keras.data.idx import DEBIAN_DIRS
from inception_keras.data.sources import open_source
from inception_keras.errors import ConfigError
from inception_keras.lang.recipe import load_recipe


def rows(run_dir) -> list[dict]:
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def train_args(tiny, run_dir, *extra):
    return ["train", "--arch", tiny["arch"], "--recipe", tiny["recipe"], "--run-dir", run_dir, *extra]


@pytest.mark.e2e
def test_tiny_training_learns_and_writes_the_run_directory(tiny):
    run = tiny["tmp"] / "run"
    r = cli(*train_args(tiny, run, "--set", "epochs=4", "--set", "optimizer.learning_rate=0.02"))
    assert r.returncode == 0, r.stderr
    metrics = rows(run)
    assert list(metrics[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
                                "epoch_seconds", "images_per_second"]
    assert [m["epoch"] for m in metrics] == ["1", "2", "3", "4"]
    assert float(metrics[-1]["val_accuracy"]) > 0.6  # chance is 0.1
    assert float(metrics[-1]["loss"]) < float(metrics[0]["loss"])
    assert float(metrics[0]["learning_rate"]) == pytest.approx(0.02)
    assert all(float(m["images_per_second"]) > 0 and float(m["epoch_seconds"]) > 0 for m in metrics)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["recipe"]["epochs"] == 4 and config["recipe"]["optimizer"]["learning_rate"] == 0.02
    assert config["arch"]["name"] == "tiny" and config["recipe"]["dataset"]["path"] == tiny["data"]
    env = json.loads((run / "env.json").read_text())
    assert env["strategy"] == "default" and env["replicas"] == 1 and env["workers"] == 1
    assert env["data_source"].startswith(f"IDX files in {tiny['data']}")
    assert env["train_examples"] == 640 and env["validation_examples"] == 160
    assert env["command"][1:3] == ["train", "--arch"]
    for key in ("python", "tensorflow", "keras", "devices", "precision", "git_commit"):
        assert key in env
    assert env["onednn"] == os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1")  # the CLI turns oneDNN on by default
    assert json.loads((run / "state.json").read_text())["status"] == "finished"
    assert (run / "model.keras").exists()
    assert "strategy: default" in r.stdout and "1 replica(s)" in r.stdout

    ev = cli("evaluate", run)
    assert ev.returncode == 0, ev.stderr
    acc = float(ev.stdout.split("accuracy ")[1].split()[0])
    assert acc == pytest.approx(float(metrics[-1]["val_accuracy"]), abs=1e-4)
    per_class = [ln for ln in ev.stdout.splitlines() if ln[:1].isdigit()]
    assert len(per_class) == 10 and sum(int(ln.split()[-2]) for ln in per_class) == 160


@pytest.mark.e2e
def test_arch_overrides_and_limit_are_recorded(tiny):
    run = tiny["tmp"] / "run"
    r = cli(*train_args(tiny, run, "--set", "epochs=1", "--set", "arch.defaults.initializer=he_normal",
                        "--limit", "64"))
    assert r.returncode == 0, r.stderr
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["arch"]["defaults"]["initializer"] == "he_normal"
    assert config["recipe"]["dataset"]["limit"] == 64
    env = json.loads((run / "env.json").read_text())
    assert env["train_examples"] == 64 and env["validation_examples"] == 64


def test_recipe_initializer_reaches_the_architecture(tiny):
    from inception_keras.lang.resolve import resolve

    spec, recipe, config = resolve(tiny["arch"], tiny["recipe"], sets=["initializer=lecun_normal"])
    assert spec.stages[0].layers[0].initializer == "lecun_normal"
    assert config["arch"]["defaults"]["initializer"] == "lecun_normal"


def test_train_takes_keyword_arguments_or_train_options(tiny):
    """The Python API: the flags as keyword arguments, or one TrainOptions; both reach the same plan."""
    from inception_keras.engine.plan import TrainOptions
    from inception_keras.engine.trainer import train

    run = tiny["tmp"] / "run"
    run.mkdir()
    (run / "config.yaml").write_text("arch: {}\nrecipe: {}\n")
    with pytest.raises(ConfigError, match="--resume continues a run with its own configuration"):
        train(tiny["arch"], tiny["recipe"], resume=str(run), sets=["seed=2"])
    with pytest.raises(ConfigError, match="--resume continues a run with its own configuration"):
        train(TrainOptions(resume=str(run), limit=5))
    # the one resolver reads the recipe first (its initializer feeds the architecture), a run's config.yaml too
    with pytest.raises(ConfigError, match=r"config\.yaml \(recipe\):2:9: the recipe is missing required key 'name'"):
        train(resume=str(run))
    with pytest.raises(TypeError, match="a TrainOptions or keyword arguments, not both"):
        train(TrainOptions(), limit=5)


def run_until(args, run_dir, epochs_done, extra_sleep=0.0):
    """Start training in a subprocess and SIGKILL it once `epochs_done` rows are in metrics.csv."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "inception_keras", *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    path = os.path.join(run_dir, "metrics.csv")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(path) and len(rows(run_dir)) >= epochs_done:
            break
        time.sleep(0.02)
    time.sleep(extra_sleep)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc


@pytest.mark.e2e
def test_sigkill_and_restart_keeps_every_epoch_once(tiny):
    data = write_bars(str(tiny["tmp"] / "more"), n_train=3000, n_test=100)
    recipe = tiny["tmp"] / "more.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", data).replace("epochs: 3", "epochs: 5"))
    args = ["train", "--arch", tiny["arch"], "--recipe", recipe, "--run-dir", tiny["tmp"] / "killed"]
    run = str(tiny["tmp"] / "killed")
    run_until(args, run, 1, extra_sleep=0.4)  # killed inside epoch 2
    assert json.loads(open(os.path.join(run, "state.json")).read())["status"] == "running"
    # it landed in epoch 2: epoch 1 committed, epoch 2 not (its row and backup never written)
    assert len(rows(run)) == 1 and json.loads(open(os.path.join(run, "backup", "checkpoint.json")).read())["epoch"] == 1
    run_until(args, run, 3)  # killed right after epoch 3 was committed
    r = cli(*args)  # the same command resumes
    assert r.returncode == 0, r.stderr
    assert "resuming after epoch 3" in r.stdout
    killed = rows(run)
    clean_dir = tiny["tmp"] / "clean"
    assert cli("train", "--arch", tiny["arch"], "--recipe", recipe, "--run-dir", clean_dir).returncode == 0
    clean = rows(clean_dir)
    assert [r["epoch"] for r in killed] == [r["epoch"] for r in clean] == ["1", "2", "3", "4", "5"]
    assert list(killed[0]) == list(clean[0])
    assert float(killed[-1]["val_accuracy"]) > 0.6
    assert json.loads(open(os.path.join(run, "state.json")).read())["status"] == "finished"


@pytest.mark.e2e
def test_sigterm_stops_cleanly_and_resumes(tiny):
    data = write_bars(str(tiny["tmp"] / "more"), n_train=3000, n_test=100)
    recipe = tiny["tmp"] / "more.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", data).replace("epochs: 3", "epochs: 8"))
    run = tiny["tmp"] / "term"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    args = [sys.executable, "-m", "inception_keras", "train", "--arch", tiny["arch"], "--recipe", str(recipe),
            "--run-dir", str(run)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (run / "metrics.csv").exists() or len(rows(run)) < 1:
        assert proc.poll() is None and time.time() < deadline, proc.communicate(timeout=60)
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM: stopped" in out and "Traceback" not in err
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "interrupted"
    before = rows(run)
    r = cli("train", "--resume", run, "--set", "seed=3")  # a resumed run keeps its configuration
    assert r.returncode == 2 and "drop --set" in r.stderr
    r = subprocess.run(args[:4] + ["--resume", str(run)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "resuming after epoch" in r.stdout
    after = rows(run)
    assert [int(m["epoch"]) for m in after] == list(range(1, 9))
    assert 1 <= len(before) < 8 and after[:len(before)] == before  # kept as they were, not trained again


@pytest.mark.e2e
def test_default_run_directory_resumes_the_same_configuration(tiny):
    root = tiny["tmp"] / "runs"
    args = ["train", "--arch", tiny["arch"], "--recipe", tiny["recipe"], "--runs-root", root, "--set", "epochs=1"]
    r1 = cli(*args)
    assert r1.returncode == 0, r1.stderr
    (first,) = os.listdir(root)
    assert first.startswith("tiny-tiny-")
    # finished runs are never resumed: the same command makes a new directory
    r2 = cli(*args)
    assert r2.returncode == 0, r2.stderr
    assert len(os.listdir(root)) == 2
    # an unfinished run of the same configuration is picked up by the same command
    newest = sorted(os.listdir(root))[-1]
    state = root / newest / "state.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "status": "interrupted"}))
    r3 = cli(*args)
    assert r3.returncode == 0, r3.stderr
    assert f"run directory: {root / newest}" in r3.stdout
    assert len(os.listdir(root)) == 2
    assert [m["epoch"] for m in rows(root / newest)] == ["1"]


# ----------------------------------------------------------------------------- failures


@pytest.mark.e2e
def test_finished_run_directory_is_never_overwritten(tiny):
    run = tiny["tmp"] / "done"
    assert cli(*train_args(tiny, run, "--set", "epochs=1")).returncode == 0
    before = (run / "metrics.csv").read_text()
    r = cli(*train_args(tiny, run, "--set", "epochs=1"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {run}: holds a finished run; it is never overwritten (choose another --run-dir)"
    assert (run / "metrics.csv").read_text() == before
    r = cli(*train_args(tiny, run, "--set", "epochs=2"))
    assert r.returncode == 2 and "finished run" in r.stderr


@pytest.mark.e2e
def test_nan_loss_stops_with_a_clear_error_and_keeps_the_backup(tiny):
    run = tiny["tmp"] / "nan"
    recipe = tiny["tmp"] / "nan.yaml"
    # epoch 1 trains normally; from epoch 2 on the learning rate explodes the weights
    recipe.write_text(TINY_RECIPE.replace("DATA", tiny["data"]).replace(
        "optimizer: {name: adam, learning_rate: 0.01}",
        "optimizer: {name: sgd, learning_rate: 0.01}\nschedule: {name: step, every_epochs: 1, factor: 1e30}"))
    r = cli("train", "--arch", tiny["arch"], "--recipe", recipe, "--run-dir", run)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "the loss became NaN or infinite in epoch 2" in r.stderr
    assert f"last good backup (epoch 1) is kept in {run}/backup" in r.stderr
    assert json.loads((run / "backup" / "checkpoint.json").read_text())["epoch"] == 1
    assert (run / "backup" / "epoch-0001.weights.h5").exists()
    assert json.loads((run / "state.json").read_text())["status"] == "failed"
    assert [m["epoch"] for m in rows(run)] == ["1"]


@pytest.mark.e2e
def test_unwritable_run_directory_fails_before_training(tiny):
    blocker = tiny["tmp"] / "file"
    blocker.write_text("not a directory")
    r = cli(*train_args(tiny, blocker / "run"))
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: run directory {blocker / 'run'} is not writable")
    assert "strategy:" not in r.stdout  # nothing started


@pytest.mark.e2e
def test_bad_recipe_keys_exit_2_with_file_path_and_line(tiny):
    recipe = tiny["tmp"] / "bad.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", tiny["data"]).replace("epochs: 3", "epoch: 3").replace(
        "learning_rate: 0.01", "learning_rate: '0.01'"))
    r = cli("train", "--arch", tiny["arch"], "--recipe", recipe, "--run-dir", tiny["tmp"] / "x")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0] == f"error: 3 errors in {recipe}:"
    assert lines[1] == (f"{recipe}:3:1: epoch: unknown key 'epoch' in the recipe; did you mean 'epochs'? (known: "
                        f"name, dataset, epochs, batch_size, partial_batch, optimizer, schedule, label_smoothing, "
                        f"augment, initializer, precision, strategy, cpu_devices, seed, steps_per_execution, "
                        f"jit_compile, freeze, phases, early_stopping, top5, average_last)")
    assert lines[2] == (f"{recipe}:1:1: the recipe is missing required key 'epochs' (epochs to train)")
    assert lines[3] == (f"{recipe}:5:40: optimizer.learning_rate: expected a number > 0, got '0.01' (a string) "
                        f"(remove the quotes)")
    r = cli("train", "--arch", tiny["arch"], "--recipe", tiny["recipe"], "--set", "optimizer.lr=0.1",
            "--run-dir", tiny["tmp"] / "y")
    assert r.returncode == 2
    assert "optimizer.lr: unknown key 'lr' in optimizer; did you mean 'learning_rate'?" in r.stderr
    assert "(from --set optimizer.lr=0.1)" in r.stderr
    assert not (tiny["tmp"] / "y").exists()


def test_recipe_types(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(TINY_RECIPE.replace("DATA", "/x").replace("batch_size: 32", "batch_size: 32.0"))
    with pytest.raises(ConfigError, match=r"r\.yaml:4:13: batch_size: expected an integer > 0, got 32\.0"):
        load_recipe(str(path))
    r = load_recipe(str(path), sets=[("batch_size", 16), ("optimizer.weight_decay", 1e-4)])
    assert r.batch_size == 16 and r.optimizer.weight_decay == 1e-4


def _rewrite(path, change):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    with gzip.open(path, "wb") as f:
        f.write(change(raw))


CORRUPT = [
    ("bad magic", lambda d: open(f"{d}/train-images-idx3-ubyte.gz", "wb").write(gzip.compress(b"\x12\x34\x08\x03")),
     "not an IDX file (bad magic number 12340803)"),
    ("labels as images", lambda d: shutil.copy(f"{d}/train-labels-idx1-ubyte.gz", f"{d}/train-images-idx3-ubyte.gz"),
     "expected an IDX file of 3 dimension(s), found 1 (magic number 2049)"),
    ("truncated", lambda d: _rewrite(f"{d}/t10k-images-idx3-ubyte.gz", lambda raw: raw[:-100]),
     "IDX header says 160x28x28 = 125,440 bytes of data, file has 125,340 (truncated or corrupt)"),
    ("not gzip", lambda d: open(f"{d}/train-labels-idx1-ubyte.gz", "wb").write(b"plain bytes"),
     "cannot read IDX file"),
    ("count mismatch", lambda d: write_idx(f"{d}/train-labels-idx1-ubyte.gz", bars(10, 0)[1]),
     "train split has 640 images but 10 labels"),
    ("label range", lambda d: write_idx(f"{d}/t10k-labels-idx1-ubyte.gz", np.full(160, 12, np.uint8)),
     "test labels range 12..12, expected 0..9"),
    ("missing file", lambda d: os.remove(f"{d}/t10k-labels-idx1-ubyte.gz"),
     "missing IDX file(s) t10k-labels-idx1-ubyte[.gz]"),
    ("zero examples", lambda d: write_idx(f"{d}/t10k-images-idx3-ubyte.gz", np.zeros((0, 28, 28), np.uint8)),
     "the IDX header says 0x28x28: no examples"),
    ("huge header", lambda d: open(f"{d}/train-images-idx3-ubyte.gz", "wb").write(gzip.compress(
        b"\x00\x00\x08\x03" + struct.pack(">3I", 4_000_000_000, 4_000_000_000, 28))),
     "the IDX header says 4000000000x4000000000x28 = 448,000,000,000,000,000,000 bytes, more than 17,179,869,184"),
]


@pytest.mark.parametrize("corrupt,message", [c[1:] for c in CORRUPT], ids=[c[0] for c in CORRUPT])
def test_corrupt_idx_files_give_clear_errors(tmp_path, corrupt, message):
    directory = write_bars(str(tmp_path / "d"), n_train=640, n_test=160)
    corrupt(directory)
    recipe = load_recipe(str(tmp_path / "r.yaml"), text=TINY_RECIPE.replace("DATA", directory).replace(
        "name: bars", "name: fashion_mnist"))
    with pytest.raises(ConfigError) as info:
        open_source(recipe.dataset, 10)
    assert message in str(info.value)


@pytest.mark.e2e
def test_corrupt_idx_exits_2_from_the_cli(tiny):
    open(os.path.join(tiny["data"], "train-images-idx3-ubyte.gz"), "wb").write(gzip.compress(b"junk"))
    r = cli(*train_args(tiny, tiny["tmp"] / "run"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "train-images-idx3-ubyte.gz: not an IDX file" in r.stderr


@pytest.mark.e2e
def test_idx_files_uncompressed_and_pipeline_values(tmp_path):
    directory = write_bars(str(tmp_path / "plain"), n_train=50, n_test=20, gz=False)
    recipe = load_recipe("r.yaml", text=TINY_RECIPE.replace("DATA", directory))
    source = open_source(recipe.dataset, 10)
    assert source.train.count == 50 and source.val.count == 20 and source.channels == 1
    ds = D.pipeline(source.val, (56, 56, 3), 8, training=False, stored_channels=1)
    x, y = next(iter(ds))
    assert x.shape == (8, 56, 56, 3) and x.dtype.name == "float32"
    assert float(np.min(x)) >= 0.0 and float(np.max(x)) <= 1.0 and float(np.max(x)) > 0.8
    assert np.array_equal(np.asarray(x[..., 0]), np.asarray(x[..., 2]))  # grey copied to RGB
    assert list(np.asarray(y)) == list(source.val.labels[:8])
    # training batches are shuffled per example: the first batch differs between epochs
    train = D.pipeline(source.train, (28, 28, 1), 50, training=True, seed=3, stored_channels=1)
    first = [np.asarray(next(iter(train))[1]) for _ in range(2)]
    assert sorted(first[0]) == sorted(first[1]) and list(first[0]) != list(first[1])


def test_fashion_mnist_from_debian_when_installed():
    if not os.path.exists(DEBIAN_DIRS["fashion_mnist"]):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    recipe = load_recipe(os.path.join(ROOT, "train", "fashion_mnist.yaml"), sets=[("dataset.limit", 100)])
    source = open_source(recipe.dataset, 10)
    assert source.description.startswith("IDX files in /usr/share/datasets/fashion-mnist")
    assert source.class_names[0] == "T-shirt/top" and source.train.images.shape == (100, 28, 28, 1)


def test_shipped_yaml_files_load():
    from inception_keras.lang.parse import load_arch

    for name in sorted(os.listdir(os.path.join(ROOT, "arch"))):
        assert load_arch(os.path.join(ROOT, "arch", name)).params > 4_000_000  # the smallest: inception_next_atto
    names = [load_recipe(os.path.join(ROOT, "train", n)).name for n in sorted(os.listdir(os.path.join(ROOT, "train")))]
    assert names == ["fashion_mnist", "fashion_mnist_best", "imagenet", "imagenet_bn", "imagenette", "quick"]


@pytest.mark.e2e
def test_learning_rate_schedules():
    import keras

    from inception_keras.engine.task import make_optimizer

    paper = load_recipe(os.path.join(ROOT, "train", "imagenet.yaml"))
    opt = make_optimizer(paper, steps_per_epoch=10)
    sched = opt._learning_rate
    assert float(sched(0)) == pytest.approx(0.08) and float(sched(79)) == pytest.approx(0.08)
    assert float(sched(80)) == pytest.approx(0.08 * 0.96) and float(sched(160)) == pytest.approx(0.08 * 0.96 ** 2)
    assert opt.momentum == 0.9 and isinstance(opt, keras.optimizers.SGD)
    bn = load_recipe(os.path.join(ROOT, "train", "imagenet_bn.yaml"))  # torchvision: x0.1 every 30 epochs
    step = make_optimizer(bn, steps_per_epoch=10)._learning_rate
    assert float(step(299)) == pytest.approx(0.1) and float(step(300)) == pytest.approx(0.01)
    assert float(step(899)) == pytest.approx(0.001)
    quick = load_recipe(os.path.join(ROOT, "train", "imagenette.yaml"))  # 2 warm-up epochs of 40, then cosine
    cos = make_optimizer(quick, steps_per_epoch=10)._learning_rate
    assert float(cos(0)) == pytest.approx(0.0) and float(cos(20)) == pytest.approx(0.05, rel=1e-4)
    assert float(cos(400)) == pytest.approx(0.0, abs=1e-6) and 0 < float(cos(210)) < 0.05


@pytest.mark.e2e
def test_optimizer_clipvalue_clips_each_gradient_element(tmp_path):
    """`optimizer.clipvalue` reaches Keras' optimizer: one SGD step with gradient [5, -0.5] and clipvalue 1 moves
    the weights by -lr * [1, -0.5]; with clipnorm as well, the recipe is refused at the key's line."""
    import keras
    import numpy as np

    from inception_keras.engine.task import make_optimizer

    text = TINY_RECIPE.replace("DATA", str(tmp_path)).replace(
        "optimizer: {name: adam, learning_rate: 0.01}", "optimizer: {name: sgd, learning_rate: 0.1, clipvalue: 1}")
    path = tmp_path / "clip.yaml"
    path.write_text(text)
    recipe = load_recipe(str(path))
    assert recipe.optimizer.clipvalue == 1 and recipe.to_dict()["optimizer"]["clipvalue"] == 1
    opt = make_optimizer(recipe, steps_per_epoch=1)
    w = keras.Variable(np.zeros(2, dtype="float32"))
    opt.apply_gradients([(keras.ops.convert_to_tensor(np.array([5.0, -0.5], dtype="float32")), w)])
    np.testing.assert_allclose(np.asarray(w), [-0.1, 0.05], rtol=1e-6)
    path.write_text(text.replace("clipvalue: 1}", "clipvalue: 1, clipnorm: 2}"))
    with pytest.raises(ConfigError, match=r"clip.yaml:5:\d+: optimizer.clipvalue: clip by norm or by value, not both"):
        load_recipe(str(path))


def test_precision_auto(tmp_path, monkeypatch):
    from inception_keras.engine import task as T

    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile\n")
    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    assert T.cpu_has_bf16(str(amx)) and not T.cpu_has_bf16(str(avx2))
    assert T.resolve_precision("mixed_float16") == "mixed_float16"
    monkeypatch.setattr(T, "gpu_compute_capability", lambda: None)  # no GPU: the CPU decides
    monkeypatch.setattr(T, "cpu_has_bf16", lambda: True)
    assert T.resolve_precision("auto") == "mixed_bfloat16"
    monkeypatch.setattr(T, "cpu_has_bf16", lambda: False)
    assert T.resolve_precision("auto") == "float32"
    monkeypatch.setattr(T, "cpu_has_bf16", lambda: True)  # a GPU decides, whatever the CPU
    monkeypatch.setattr(T, "gpu_compute_capability", lambda: (8, 0))
    assert T.resolve_precision("auto") == "mixed_float16"  # tensor cores
    monkeypatch.setattr(T, "gpu_compute_capability", lambda: (6, 1))
    assert T.resolve_precision("auto") == "float32"


@pytest.mark.e2e
def test_gpu_compute_capability_is_none_without_gpus(monkeypatch):
    import tensorflow as tf

    from inception_keras.engine.task import gpu_compute_capability

    real = tf.config.list_physical_devices
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [] if kind == "GPU" else real(kind))
    assert gpu_compute_capability() is None


@pytest.mark.e2e
def test_mixed_precision_keeps_logits_and_loss_float32(tiny):
    run = tiny["tmp"] / "bf16"
    r = cli(*train_args(tiny, run, "--set", "precision=mixed_bfloat16", "--set", "epochs=1"))
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "env.json").read_text())["precision"] == "mixed_bfloat16"
    import keras

    keras.mixed_precision.set_global_policy("float32")
    model = keras.models.load_model(run / "model.keras", compile=False)
    assert model.get_layer("head.dense1").dtype_policy.name == "float32"
    assert model.get_layer("s1.conv1").dtype_policy.name == "mixed_bfloat16"
    assert model.output.dtype == "float32"


def catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler for `signum` installed (the SigCgt mask of /proc/PID/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(mask >> (signum - 1) & 1)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux' /proc")
@pytest.mark.e2e
def test_sigterm_while_starting_exits_143_without_traceback(tiny):
    """As a container's PID 1 an unhandled SIGTERM is ignored; the CLI handles it from its first line."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "inception_keras", *train_args(tiny, tiny["tmp"] / "early")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not catches(proc.pid, signal.SIGTERM):  # the CLI's first line has run: all that follows is starting
        assert proc.poll() is None and time.time() < deadline, proc.communicate(timeout=60)
        time.sleep(0.01)  # a 1 ms poll of /proc took CPU from the start it waits for; the start takes seconds
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err

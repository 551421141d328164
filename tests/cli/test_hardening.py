"""Issue 24 (hardening, round three): every case the issue reproduced ends in a ConfigError (exit 2, one `error:`
line) or a warning where the issue says so, in bounded time and memory, and leaves the files it did not own
byte-identical. The commands that refuse before TensorFlow starts run in-process (`main`); the measured
before/after table of the same cases as real processes is tools/hardening_cases.py's (docs/reliability.md)."""
from __future__ import annotations

import json
import os
import struct
import sys
import time
import tracemalloc

import numpy as np
import pytest
from conftest import TINY_ARCH, cli

from inception_keras import safeio, writing
from inception_keras.cli.app import main
from inception_keras.errors import ConfigError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools"))
import hardening_cases as H  # noqa: E402 - the case builders are the measuring tool's


def one_error(capsys, argv) -> str:
    """Run the command in-process: exit 2 and exactly one `error:` line, no traceback; return that line."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert sum(line.startswith("error:") for line in err.splitlines()) == 1 and "Traceback" not in err, err
    return next(line for line in err.splitlines() if line.startswith("error:"))


class Bounded:
    """tracemalloc's peak and the seconds spent inside the block (the issue's "within seconds and bounded memory")."""

    def __enter__(self):
        tracemalloc.start()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def digest(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# ----------------------------------------------------------------------------- the lock


@pytest.mark.parametrize("kind", ["link", "fifo", "dir"])
def test_a_planted_lock_is_refused_and_its_target_untouched(tmp_path, kind):
    from inception_keras.runs import RunLock

    run, target = tmp_path / "run", tmp_path / "victim.txt"
    run.mkdir()
    target.write_text("someone else's file\n")
    lock = run / ".lock"
    {"link": lambda: os.symlink(target, lock), "fifo": lambda: os.mkfifo(lock), "dir": lambda: lock.mkdir()}[kind]()
    with pytest.raises(ConfigError, match=r"\.lock: the lock file is .*refused: remove it if no trainer runs here"):
        with RunLock(str(run)):
            pass
    assert target.read_text() == "someone else's file\n"
    assert os.path.islink(lock) if kind == "link" else os.path.exists(lock)


def test_a_stale_lock_file_is_reused_and_a_held_one_refused(tmp_path):
    from inception_keras.runs import RunLock, is_locked

    (tmp_path / ".lock").write_text("host 1\n")  # left by a trainer killed with -9
    with RunLock(str(tmp_path)):
        assert is_locked(str(tmp_path))
        with pytest.raises(ConfigError, match="another process is training"):
            with RunLock(str(tmp_path)):
                pass
    assert not is_locked(str(tmp_path))


def test_train_refuses_a_folder_that_is_not_a_run(tiny):
    from inception_keras.engine.plan import TrainOptions, plan

    folder = tiny["tmp"] / "project"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    with pytest.raises(ConfigError) as e:  # the plan train makes before TensorFlow starts
        plan(TrainOptions(tiny["arch"], tiny["recipe"], run_dir=str(folder)))
    assert str(e.value) == (f"{folder}: exists and is not a run directory (it holds notes.txt); its files are not "
                            "overwritten: choose a new or empty --run-dir")
    assert sorted(os.listdir(folder)) == ["notes.txt"]


# ----------------------------------------------------------------------------- bounded reads


@pytest.mark.e2e
def test_bad_runs_are_warnings_and_the_other_runs_are_compared(tmp_path):
    """config.yaml a link to /dev/zero, a FIFO, a BEL in it, a run folder named in Latin-1: one warning each (or
    the name escaped), and every run with readable epochs still compared (one process for all four)."""
    zero, fifo = H.fake_run(str(tmp_path), "zero", None), H.fake_run(str(tmp_path), "fifo", None)
    os.symlink("/dev/zero", os.path.join(zero, "config.yaml"))
    os.mkfifo(os.path.join(fifo, "config.yaml"))
    bel = H.fake_run(str(tmp_path), "bel", "name: a\x07b\n")
    odd = os.path.join(os.fsencode(str(tmp_path)), b"caf\xe9")
    os.rename(H.fake_run(str(tmp_path), "x"), odd)
    r = cli("compare", zero, fifo, bel, os.fsdecode(odd), H.fake_run(str(tmp_path), "good"), timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert f"{zero}/config.yaml: cannot read: run configuration is not a regular file" in r.stderr
    assert f"{fifo}/config.yaml: cannot read: run configuration is not a regular file" in r.stderr
    assert f"{bel}/config.yaml:1:8: invalid YAML: control character \\x07 at line 1, column 8" in r.stderr
    for name in ("zero", "fifo", "bel", "caf\\xe9 +1"):  # good has caf\xe9's configuration: one group of two
        assert name in r.stdout, r.stdout


def test_labels_from_a_device_are_refused(tmp_path):
    from inception_keras.serve.predict import class_names

    with Bounded() as b, pytest.raises(ConfigError, match="^/dev/zero: cannot read the class names: class names "
                                                          "file is not a regular file"):
        class_names(None, 10, "/dev/zero")
    assert b.peak < 1 << 20


def test_readers_refuse_fifos_without_waiting(tmp_path):
    from inception_keras.data.idx import read_idx
    from inception_keras.runs import read_metrics, read_state

    fifo = tmp_path / "train-images-idx3-ubyte"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="IDX file is not a regular file"):
        read_idx(str(fifo), 3)
    os.mkfifo(tmp_path / "state.json")
    with pytest.raises(ConfigError, match="state.json: cannot read: state.json is not a regular file"):
        read_state(str(tmp_path))
    os.mkfifo(tmp_path / "metrics.csv")
    heard = []
    assert read_metrics(str(tmp_path / "metrics.csv"), lambda f, m: heard.append(m)) is None
    assert heard == ["cannot read: metrics file is not a regular file (a pipe, device or socket); skipped"]


def test_an_image_folder_with_a_fifo_is_refused(tmp_path):
    from PIL import Image

    from inception_keras.data.folders import open_image_folder
    from inception_keras.lang.recipe import Dataset

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.new("L", (8, 8), 40 * i).save(tmp_path / c / f"{i}.png")
    os.mkfifo(tmp_path / "a" / "fifo.png")
    with pytest.raises(ConfigError, match=r"fifo\.png: unreadable image: image is not a regular file"):
        open_image_folder(Dataset(name="f", kind="image_folder", path=str(tmp_path)))


def test_a_million_row_csv_is_refused_by_its_size_in_bounded_memory(tmp_path):
    from inception_keras.runs import read_metrics

    path = tmp_path / "metrics.csv"
    with open(path, "w") as f:
        f.write("epoch,loss,accuracy,val_loss,val_accuracy,seconds\n")
        f.writelines(f"{i},1.0,0.5,1.0,0.5,1.0\n" for i in range(1, 1_000_001))
    heard = []
    with Bounded() as b:
        assert read_metrics(str(path), lambda f, m: heard.append(m)) is None
    assert heard and "more than the 16,777,216 bytes" in heard[0]
    assert b.peak < 1 << 20 and b.seconds < 10


# ----------------------------------------------------------------------------- declared sizes


def test_an_npz_that_expands_past_the_cap_is_refused_before_decompressing(tmp_path, monkeypatch):
    from inception_keras.weights.state_dict import load_state_dict

    monkeypatch.setitem(safeio.LIMITS, "weights", 1 << 20)
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, **{"conv1.conv.weight": np.zeros(1 << 20, np.float32)})  # 4 MiB inflated, 4 KB here
    assert path.stat().st_size < 64 << 10
    with Bounded() as b, pytest.raises(ConfigError, match=r"the \.npz members expand to 4,194,\d+ bytes, more than "
                                                          r"1,048,576; refused"):
        load_state_dict(str(path))
    assert b.peak < 1 << 20


def test_safetensors_declared_sizes_are_checked(tmp_path):
    from inception_keras.weights.state_dict import load_state_dict

    entry = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
    sparse = H.safetensors_file(str(tmp_path / "big.safetensors"), {"x": entry}, sparse_size=12 << 30)
    with pytest.raises(ConfigError, match="big.safetensors: state dict is 12,884,901,888 bytes, "
                                          "more than the 1,073,741,824"):
        load_state_dict(sparse)
    longer = H.safetensors_file(str(tmp_path / "long.safetensors"), {"x": entry}, b"\0" * 4096)
    with pytest.raises(ConfigError, match="the header declares 4 bytes of tensor data, the file holds 4,096"):
        load_state_dict(longer)
    overlap = H.safetensors_file(str(tmp_path / "o.safetensors"), {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12)
    with pytest.raises(ConfigError, match="tensor 'b': its data starts at byte 4, expected 8 .overlapping"):
        load_state_dict(overlap)
    negative = H.safetensors_file(str(tmp_path / "n.safetensors"), {
        "a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}, b"\0" * 4)
    with pytest.raises(ConfigError, match="tensor 'a': needs a known dtype, a shape of sizes >= 0 and two offsets"):
        load_state_dict(negative)


@pytest.mark.parametrize("bad, message", [
    (np.array([1.0, np.nan], np.float32), "holds 1 NaN or infinite value"),
    (np.array([np.inf], np.float64), "holds 1 NaN or infinite value"),
    (np.zeros(2, np.complex64), "holds complex64 values, not real numbers"),
    (np.array(["a"]), "holds <U1 values, not real numbers"),
    (np.zeros(2, [("a", "f4"), ("b", "f4")]), r"holds \[\('a', '<f4'\), \('b', '<f4'\)\] values, not real numbers"),
    (np.zeros(2, bool), "holds bool values, not real numbers"),
])
def test_weights_must_be_finite_real_numbers(tmp_path, bad, message):
    from inception_keras.weights.state_dict import load_state_dict

    path = tmp_path / "s.npz"
    np.savez(path, **{"conv1.conv.weight": np.ones(3, np.float32), "fc.bias": bad})
    with pytest.raises(ConfigError, match=f"^{path}: tensor 'fc.bias' {message}"):
        load_state_dict(str(path))


@pytest.mark.parametrize("width, height, depth, colour", [(20000, 20000, 8, 0), (16000, 16000, 16, 6)])
def test_images_that_decode_too_large_are_refused_from_their_header(tmp_path, width, height, depth, colour):
    from inception_keras.data.folders import check_image_header

    path = H.png_header_bomb(str(tmp_path / "big.png"), width, height, depth, colour, rows=1)  # the header decides
    with Bounded() as b, pytest.raises(ConfigError, match=f"a {width}x{height} image .* decodes to .* bytes, more "
                                                          "than|exceeds limit of .* pixels; refused"):
        with open(path, "rb") as f:
            check_image_header(path, f)
    assert b.peak < 16 << 20


def test_the_frames_of_an_animation_count(tmp_path, monkeypatch):
    from inception_keras.data.folders import check_image_header

    path = H.gif_frames(str(tmp_path / "many.gif"), 30, 32)
    with open(path, "rb") as f:
        blob = f.read()
    monkeypatch.setattr(safeio, "MAX_PIXELS", 32 * 32 * 4 * 20)  # 20 frames' worth (a palette decodes to RGBA)
    with pytest.raises(ConfigError, match=r"a 32x32 image \(4 channel\(s\), 30 frame\(s\)\) decodes to 122,880 "
                                          "bytes"):
        check_image_header(path, blob)


# ----------------------------------------------------------------------------- text as text


@pytest.mark.parametrize("char", ["\x07", "\x01", "\x00"])
def test_control_characters_are_reported_with_line_and_column(tmp_path, char, capsys):
    path = tmp_path / "a.yaml"
    path.write_text(TINY_ARCH.replace("name: tiny", f"name: ti{char}ny"))
    line = one_error(capsys, ["summary", path])
    assert line == (f"error: {path}:1:9: invalid YAML: control character \\x{ord(char):02x} at line 1, column 9 "
                    "(only tab and line breaks may appear in YAML text)")
    arch = tmp_path / "ok.yaml"
    arch.write_text(TINY_ARCH)
    line = one_error(capsys, ["summary", arch, "--set", f"name=x{char}y"])
    assert line == (f"error: --set: name: cannot read the value 'x\\x{ord(char):02x}y': invalid YAML: control "
                    f"character \\x{ord(char):02x} at line 1, column 2 (only tab and line breaks may appear in YAML "
                    "text)")


def test_a_long_set_key_is_refused_in_one_short_line(capsys, tiny):
    line = one_error(capsys, ["summary", tiny["arch"], "--set", ".".join(["a"] * 50_000) + "=1"])
    assert line == "error: --set: " + "a." * 20 + "...: a key of 99,999 characters; keys have at most 200"


# ----------------------------------------------------------------------------- resources before work


def test_width_is_capped_after_scaling(tiny, capsys):
    from inception_keras.lang.parse import load_arch

    with pytest.raises(ConfigError, match=r"stages.s1\[0\].conv.filters: 8 x width 1e\+09 = 8,000,000,000, more "
                                          "than 65,536"):
        load_arch(tiny["arch"], sets=[("width", 1e9)])


def test_training_memory_is_estimated_before_tensorflow(tiny):
    from inception_keras.engine.plan import TrainOptions, plan
    from inception_keras.lang.summary import physical_memory

    options = TrainOptions("arch/googlenet.yaml", tiny["recipe"], sets=("arch.input=[6000,6000,3]",),
                           run_dir=str(tiny["tmp"] / "run"))
    with pytest.raises(ConfigError, match=r"^training googlenet at input 6000x6000x3 with batches of 32 needs at "
                                          r"least [\d,.]+ GiB \([\d,.]+ MiB of activations per image\), more than "
                                          f"this machine's {physical_memory() / 2 ** 30:,.1f} GiB"):
        plan(options)
    assert not os.path.exists(tiny["tmp"] / "run")


def test_sweep_values_are_checked_in_linear_time_and_the_grid_counted_first(tiny):
    from inception_keras.experiments.grid import MAX_POINTS, TrainOptions, make_sweep, parse_grid

    with Bounded() as b:
        _, axes = parse_grid([f"seed=0..{MAX_POINTS - 1}"])
    assert len(axes[0].values) == MAX_POINTS and b.seconds < 10
    with pytest.raises(ConfigError, match="the value 1.0 is given twice"):
        parse_grid(["x=1,2,1.0"])
    assert len(parse_grid(["x=1,true,[1],{a: 1},'1'"])[1][0].values) == 5  # a bool, a list, a string: all differ
    options = TrainOptions(tiny["arch"], tiny["recipe"])
    sets = [f"{k}=" + ",".join(map(str, range(1, 11))) for k in ("seed", "epochs", "batch_size", "a", "b", "c")]
    with Bounded() as b, pytest.raises(ConfigError, match="^the grid has 1,000,000 points, more than 10,000$"):
        make_sweep(sets, options)
    assert b.peak < 8 << 20


# ----------------------------------------------------------------------------- writes


@pytest.mark.parametrize("argv", [
    ["compare", "RUN", "--plot", "OUT.png"],
    ["export", "RUN", "--format", "tflite", "--out", "OUT.tflite"],
    ["show", "--out", "OUT.png"],
    ["bench", "--json", "OUT.json"],
    ["import-weights", "torchvision", "x.npz", "--arch", "arch/googlenet_bn.yaml", "--out", "OUT.keras"],
    ["summary", "ARCH", "--plot", "OUT.png"],
])
@pytest.mark.parametrize("existing", ["file", "link"])
def test_outputs_are_never_overwritten_without_force(tmp_path, capsys, tiny, argv, existing):
    out = str(tmp_path / os.path.basename(next(a for a in argv if a.startswith("OUT"))))
    target = tmp_path / "victim.txt"
    target.write_text("someone else's file\n")
    if existing == "file":
        with open(out, "w") as f:
            f.write("keep me\n")
    else:
        os.symlink(target, out)
    run = H.fake_run(str(tmp_path), "r")
    argv = [out if a.startswith("OUT") else run if a == "RUN" else tiny["arch"] if a == "ARCH" else a for a in argv]
    line = one_error(capsys, argv)
    assert line.endswith(f"{out}: exists; not overwritten (pass --force to replace it, or choose a new name)")
    assert target.read_text() == "someone else's file\n"
    assert os.path.islink(out) if existing == "link" else open(out).read() == "keep me\n"


def test_nothing_writes_into_a_run_directory_but_its_trainer(tmp_path, capsys):
    run = H.fake_run(str(tmp_path), "run")
    (tmp_path / "run" / "state.json").write_text('{"status": "finished"}')
    line = one_error(capsys, ["import-weights", "torchvision", "x.npz", "--arch", "arch/googlenet_bn.yaml",
                              "--out", os.path.join(run, "model.keras"), "--force"])
    assert line == (f"error: --out {run}/model.keras: {run} is a run directory; only its own trainer writes there "
                    "(choose a path outside it)")
    assert not os.path.exists(os.path.join(run, "model.keras"))


def test_bench_json_checks_its_folder_before_benchmarking(tmp_path, capsys):
    line = one_error(capsys, ["bench", "--json", tmp_path / "nowhere" / "b.json"])
    assert line == f"error: --json {tmp_path}/nowhere/b.json: the folder {tmp_path}/nowhere does not exist"


def test_output_replaces_a_link_never_its_target_and_leaves_nothing_on_failure(tmp_path):
    target, out = tmp_path / "victim.txt", tmp_path / "out.json"
    target.write_text("someone else's file\n")
    os.symlink(target, out)
    writing.write_new(writing.Output(str(out), writing.JSON, force=True), "{}\n", writing.JSON)
    assert not os.path.islink(out) and out.read_text() == "{}\n" and target.read_text() == "someone else's file\n"
    with pytest.raises(RuntimeError), writing.output(str(tmp_path / "half.png"), writing.PNG) as tmp:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("killed mid-write")
    assert sorted(os.listdir(tmp_path)) == ["out.json", "victim.txt"]


def test_run_files_are_never_written_through_a_planted_link(tmp_path):
    from inception_keras.runs import write_state

    target = tmp_path / "victim.txt"
    target.write_text("someone else's file\n")
    os.symlink(target, tmp_path / f"state.json.tmp-{os.getpid()}")  # a temporary name planted in advance
    write_state(str(tmp_path), status="running")
    assert json.loads((tmp_path / "state.json").read_text())["status"] == "running"
    assert target.read_text() == "someone else's file\n"


def test_idx_headers_are_checked_before_reading(tmp_path):
    from inception_keras.data.idx import read_idx

    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">3I", 1 << 31, 1 << 20, 1 << 20))
    with Bounded() as b, pytest.raises(ConfigError, match="the IDX header says 2147483648x1048576x1048576"):
        read_idx(str(path), 3)
    assert b.peak < 1 << 20


def test_a_run_directory_name_that_is_not_utf8_fails_before_training(tmp_path):
    from inception_keras.runs import check_writable

    odd = os.fsdecode(os.path.join(os.fsencode(str(tmp_path)), b"run-\xe9"))
    with pytest.raises(ConfigError, match=r"run-\\xe9: its name is not UTF-8, which TensorFlow cannot write to"):
        check_writable(odd)


def _without_dac_override():
    """In the child before exec: drop CAP_DAC_OVERRIDE (1) and CAP_DAC_READ_SEARCH (2) from the bounding set
    (prctl PR_CAPBSET_DROP = 24), so a root child honours permission bits as any user does."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.e2e
def test_a_read_only_tensorboard_folder_fails_before_training(tmp_path):
    """Root writes into read-only folders, so the check runs in a child without the capability that allows it."""
    import subprocess

    (tmp_path / "tensorboard" / "train").mkdir(parents=True)
    os.chmod(tmp_path / "tensorboard" / "train", 0o555)
    code = ("import sys\nfrom inception_keras.runs import check_writable\nfrom inception_keras.errors import "
            "ConfigError\ntry:\n    check_writable(sys.argv[1])\nexcept ConfigError as e:\n    print(e)\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                         timeout=60, preexec_fn=_without_dac_override if os.geteuid() == 0 else None)
    os.chmod(tmp_path / "tensorboard" / "train", 0o755)
    assert out.returncode == 0, out.stderr
    assert "is not writable (" in out.stdout and "tensorboard/train: Permission denied)" in out.stdout, out.stdout


def test_model_files_that_are_fifos_are_refused_before_keras_opens_them(tmp_path):
    from inception_keras.runs.loader import LoadError, load_model

    os.mkfifo(tmp_path / "model.keras")
    with pytest.raises(LoadError, match="model.keras: cannot load it: model file is not a regular file"):
        load_model(str(tmp_path / "model.keras"))

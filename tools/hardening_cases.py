"""The cases of issue 24 (hardening, round three), each run as a real process of a checkout under a time and
memory limit: exit status, seconds, peak memory (ru_maxrss) and whether the files it did not own stayed
byte-identical. Used for the issue's before/after table (docs/reliability.md):

    git worktree add ../before COMMIT                                      # the code before the change
    python tools/hardening_cases.py --root ../before --out before.json
    python tools/hardening_cases.py --root .         --out after.json
    python tools/hardening_cases.py --table before.json after.json           # the markdown table

Each case builds its inputs in a fresh temporary folder; a trained tiny run (for predict, export, import-weights)
is built once per invocation with the checkout under test.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(HERE, "tests"))

AS_PLAIN = 3 << 30  # address space of a command without TensorFlow
AS_TF = 12 << 30  # TensorFlow reserves much address space it never touches
TIMEOUT = 60

CASES = []


def case(name, tf=False):
    def wrap(f):
        CASES.append((name, tf, f))
        return f
    return wrap


def victim(d) -> str:
    path = os.path.join(d, "victim.txt")
    with open(path, "w") as f:
        f.write("someone else's file\n")
    return path


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


# ---------------------------------------------------------------- inputs


def tiny_inputs(d):
    from conftest import TINY_ARCH, TINY_RECIPE, write_bars

    data = write_bars(os.path.join(d, "data"), 64, 32)
    arch = write(os.path.join(d, "tiny.yaml"), TINY_ARCH)
    recipe = write(os.path.join(d, "recipe.yaml"), TINY_RECIPE.replace("DATA", data).replace("epochs: 3", "epochs: 1"))
    return arch, recipe, data


def fake_run(d, name="run", config="name: x\n", rows=3):
    run = os.path.join(d, name)
    write(os.path.join(run, "metrics.csv"), "epoch,loss,accuracy,val_loss,val_accuracy,seconds\n" + "".join(
        f"{i},1.0,0.5,1.0,{0.1 * i:.1f},1.0\n" for i in range(1, rows + 1)))
    if config is not None:
        write(os.path.join(run, "config.yaml"), config)
    return run


def png_header_bomb(path, width, height, bit_depth=8, colour=0, rows=None):
    """A PNG of zeros whose IDAT stream inflates to `rows` (default: all) rows of width pixels."""
    channels = {0: 1, 2: 3, 6: 4}[colour]
    row = b"\x00" * (1 + width * channels * bit_depth // 8)
    comp = zlib.compressobj(9)
    rows = height if rows is None else rows
    parts = [comp.compress(row * min(64, rows - i)) for i in range(0, rows, 64)] + [comp.flush()]
    idat = b"".join(parts)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    write(path, b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def gif_frames(path, frames, size):
    from PIL import Image

    images = [Image.new("P", (size, size), 0) for _ in range(frames)]
    for i, im in enumerate(images):
        im.putpixel((i % size, (i // size) % size), 1 + i % 200)
    images[0].save(path, save_all=True, append_images=images[1:], optimize=False, duration=10, loop=0)
    return path


def npz_bomb(path, gib):
    """An .npz whose one member is an .npy of `gib` GiB of zeros, deflated (a few MB on disk)."""
    n = (gib << 30) // 4
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + str(n) + ",), }"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("conv1.conv.weight.npy", "w",
                                                                      force_zip64=True) as f:
        f.write(npy)
        block = b"\x00" * (64 << 20)
        for _ in range((n * 4) // len(block)):
            f.write(block)
    return path


def safetensors_file(path, header: dict, data: bytes = b"", sparse_size: int | None = None):
    text = json.dumps(header).encode()
    write(path, struct.pack("<Q", len(text)) + text + data)
    if sparse_size:
        os.truncate(path, sparse_size)
    return path


# ---------------------------------------------------------------- the cases (setup -> argv, protected files)


@case("train: .lock is a symlink to another file", tf=True)
def lock_link(d, shared):
    run = os.path.join(d, "run")
    os.makedirs(run)
    target = victim(d)
    os.symlink(target, os.path.join(run, ".lock"))
    return ["train", "--arch", shared["arch"], "--recipe", shared["recipe"], "--run-dir", run], [target]


@case("train: .lock is a FIFO", tf=True)
def lock_fifo(d, shared):
    run = os.path.join(d, "run")
    os.makedirs(run)
    os.mkfifo(os.path.join(run, ".lock"))
    return ["train", "--arch", shared["arch"], "--recipe", shared["recipe"], "--run-dir", run], []


@case("train: .lock is a folder", tf=True)
def lock_dir(d, shared):
    run = os.path.join(d, "run")
    os.makedirs(os.path.join(run, ".lock"))
    return ["train", "--arch", shared["arch"], "--recipe", shared["recipe"], "--run-dir", run], []


@case("train --run-dir: a folder that is not a run", tf=True)
def not_a_run(d, shared):
    run = os.path.join(d, "project")
    notes = write(os.path.join(run, "notes.txt"), "mine\n")
    return ["train", "--arch", shared["arch"], "--recipe", shared["recipe"], "--run-dir", run], [notes]


@case("compare: config.yaml -> /dev/zero (another run beside it)")
def config_zero(d, shared):
    bad = fake_run(d, "bad", None)
    os.symlink("/dev/zero", os.path.join(bad, "config.yaml"))
    good = fake_run(d, "good")
    return ["compare", bad, good], []


@case("compare: config.yaml is a FIFO")
def config_fifo(d, shared):
    bad = fake_run(d, "bad", None)
    os.mkfifo(os.path.join(bad, "config.yaml"))
    return ["compare", bad, fake_run(d, "good")], []


@case("compare: a BEL in one run's config.yaml")
def config_bel(d, shared):
    return ["compare", fake_run(d, "bad", "name: a\x07b\n"), fake_run(d, "good")], []


@case("compare: a run folder named in Latin-1 (not UTF-8)")
def compare_latin1(d, shared):
    run = fake_run(d, "x")
    odd = os.path.join(os.fsencode(d), b"caf\xe9")
    os.rename(run, odd)
    return ["compare", odd], []


@case("compare: metrics.csv of 1,000,000 rows")
def compare_million(d, shared):
    run = fake_run(d, "big")
    with open(os.path.join(run, "metrics.csv"), "a") as f:
        f.writelines(f"{i},1.0,0.5,1.0,0.5,1.0\n" for i in range(4, 1_000_001))
    return ["compare", run], []


@case("summary: a BEL in the arch file")
def arch_bel(d, shared):
    return ["summary", write(os.path.join(d, "a.yaml"), "name: a\x07b\ninput: [16, 16, 1]\n")], []


@case("summary: NUL in a --set value")
def set_nul(d, shared):
    return ["summary", shared["arch"], "--set", "name=a\x01b"], []


@case("summary: a --set key of 50,000 parts")
def set_long_key(d, shared):
    return ["summary", shared["arch"], "--set", ".".join(["a"] * 50_000) + "=1"], []


@case("summary: width 1e9")
def width_huge(d, shared):
    return ["summary", shared["arch"], "--set", "width=1e9"], []


@case("train: input 6000x6000 (googlenet)", tf=True)
def input_huge(d, shared):
    return ["train", "--arch", os.path.join(HERE, "arch", "googlenet.yaml"), "--recipe", shared["recipe"],
            "--set", "arch.input=[6000,6000,3]", "--run-dir", os.path.join(d, "run")], []


@case("sweep --list seed=0..999")
def sweep_thousand(d, shared):
    return ["sweep", "--arch", shared["arch"], "--recipe", shared["recipe"], "--set", "seed=0..999", "--list",
            "--sweep-dir", os.path.join(d, "sw")], []


@case("sweep --list: six axes of ten values")
def sweep_six_axes(d, shared):
    sets = []
    for key in ("seed", "epochs", "batch_size", "optimizer.learning_rate", "arch.width", "dataset.limit"):
        sets += ["--set", f"{key}=" + ",".join(str(i) for i in range(1, 11))]
    return ["sweep", "--arch", shared["arch"], "--recipe", shared["recipe"], *sets, "--list",
            "--sweep-dir", os.path.join(d, "sw")], []


@case("predict --labels /dev/zero", tf=True)
def labels_zero(d, shared):
    return ["predict", shared["run"], shared["png"], "--labels", "/dev/zero"], []


@case("predict: 389 KB PNG of 20000x20000", tf=True)
def png_big(d, shared):
    return ["predict", shared["run"], png_header_bomb(os.path.join(d, "big.png"), 20000, 20000)], []


@case("predict: 16-bit grey PNG of 16000x16000", tf=True)
def png_16(d, shared):
    return ["predict", shared["run"], png_header_bomb(os.path.join(d, "deep.png"), 16000, 16000, 16, 0)], []


@case("predict: GIF of 1500 frames of 300x300", tf=True)
def gif_many(d, shared):
    return ["predict", shared["run"], gif_frames(os.path.join(d, "many.gif"), 1500, 300)], []


@case("train: IDX file is a FIFO", tf=True)
def idx_fifo(d, shared):
    from conftest import TINY_RECIPE, write_bars

    data = write_bars(os.path.join(d, "data"), 64, 32, gz=False)
    os.remove(os.path.join(data, "train-labels-idx1-ubyte"))
    os.mkfifo(os.path.join(data, "train-labels-idx1-ubyte"))
    recipe = write(os.path.join(d, "r.yaml"), TINY_RECIPE.replace("DATA", data))
    return ["train", "--arch", shared["arch"], "--recipe", recipe, "--run-dir", os.path.join(d, "run")], []


@case("train: image-folder file is a FIFO", tf=True)
def folder_fifo(d, shared):
    from PIL import Image

    root = os.path.join(d, "imgs")
    for c in ("a", "b"):
        os.makedirs(os.path.join(root, c))
        for i in range(4):
            Image.new("L", (16, 16), 40 * i).save(os.path.join(root, c, f"{i}.png"))
    os.mkfifo(os.path.join(root, "a", "fifo.png"))
    recipe = write(os.path.join(d, "r.yaml"), f"name: f\ndataset: {{name: f, kind: image_folder, path: {root}}}\n"
                                              "epochs: 1\nbatch_size: 4\nseed: 1\n"
                                              "optimizer: {name: adam, learning_rate: 0.01}\n")
    arch = write(os.path.join(d, "a.yaml"), open(shared["arch"]).read().replace("classes: 10", "classes: 2"))
    return ["train", "--arch", arch, "--recipe", recipe, "--run-dir", os.path.join(d, "run")], []


@case("import-weights: .npz of 2 GiB of zeros (deflated)", tf=True)
def npz_big(d, shared):
    return ["import-weights", "torchvision", npz_bomb(os.path.join(d, "bomb.npz"), 2), "--arch",
            os.path.join(HERE, "arch", "googlenet_bn.yaml"), "--out", os.path.join(d, "g.keras")], []


@case("import-weights: .safetensors header says 4 bytes, file is 12 GB (sparse)", tf=True)
def safetensors_big(d, shared):
    sd = safetensors_file(os.path.join(d, "big.safetensors"), {"x": {"dtype": "F32", "shape": [1],
                                                                     "data_offsets": [0, 4]}}, sparse_size=12 << 30)
    return ["import-weights", "torchvision", sd, "--arch", os.path.join(HERE, "arch", "googlenet_bn.yaml"),
            "--out", os.path.join(d, "g.keras")], []


@case("import-weights: .safetensors with overlapping offsets", tf=True)
def safetensors_overlap(d, shared):
    sd = safetensors_file(os.path.join(d, "o.safetensors"), {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\x00" * 12)
    return ["import-weights", "torchvision", sd, "--arch", os.path.join(HERE, "arch", "googlenet_bn.yaml"),
            "--out", os.path.join(d, "g.keras")], []


def _state_with(d, change):
    import numpy as np

    state = dict(np.load(shared_state()))
    change(state)
    path = os.path.join(d, "s.npz")
    np.savez(path, **state)
    return path


def shared_state():
    return os.environ["HARDENING_STATE"]


@case("import-weights: a NaN in one tensor", tf=True)
def weights_nan(d, shared):
    def change(s):
        s["conv1.conv.weight"] = s["conv1.conv.weight"].copy()
        s["conv1.conv.weight"].flat[0] = float("nan")
    return ["import-weights", "torchvision", _state_with(d, change), "--arch",
            os.path.join(HERE, "arch", "googlenet_bn_imagenet.yaml"), "--out", os.path.join(d, "g.keras")], []


@case("import-weights: a complex tensor", tf=True)
def weights_complex(d, shared):
    def change(s):
        s["conv1.conv.weight"] = s["conv1.conv.weight"].astype("complex64")
    return ["import-weights", "torchvision", _state_with(d, change), "--arch",
            os.path.join(HERE, "arch", "googlenet_bn_imagenet.yaml"), "--out", os.path.join(d, "g.keras")], []


@case("import-weights --out a finished run's model.keras", tf=True)
def weights_into_run(d, shared):
    run = os.path.join(d, "run")
    shutil.copytree(shared["run"], run)
    return ["import-weights", "torchvision", shared_state(), "--arch",
            os.path.join(HERE, "arch", "googlenet_bn_imagenet.yaml"), "--out", os.path.join(run, "model.keras")], \
        [os.path.join(run, "model.keras")]


@case("import-weights --out a symlink to another file", tf=True)
def weights_link(d, shared):
    target = victim(d)
    out = os.path.join(d, "g.keras")
    os.symlink(target, out)
    return ["import-weights", "torchvision", shared_state(), "--arch",
            os.path.join(HERE, "arch", "googlenet_bn_imagenet.yaml"), "--out", out], [target]


@case("compare --plot over an existing file")
def plot_exists(d, shared):
    out = write(os.path.join(d, "p.png"), "keep me\n")
    return ["compare", fake_run(d, "r"), "--plot", out], [out]


@case("compare --plot a symlink to another file")
def plot_link(d, shared):
    target = victim(d)
    os.symlink(target, os.path.join(d, "p.png"))
    return ["compare", fake_run(d, "r"), "--plot", os.path.join(d, "p.png")], [target]


@case("export --out over an existing file", tf=True)
def export_exists(d, shared):
    out = write(os.path.join(d, "m.tflite"), "keep me\n")
    return ["export", shared["run"], "--format", "tflite", "--out", out, "--no-check"], [out]


@case("show --out over an existing file", tf=True)
def show_exists(d, shared):
    out = write(os.path.join(d, "s.png"), "keep me\n")
    return ["show", "--arch", shared["arch"], "--recipe", shared["recipe"], "--out", out], [out]


@case("bench --json over an existing file", tf=True)
def bench_exists(d, shared):
    out = write(os.path.join(d, "b.json"), "keep me\n")
    return ["bench", "--arch", shared["arch"], "--batch", "8", "--steps", "1", "--windows", "1", "--warmup", "1",
            "--json", out], [out]


@case("bench --json into a missing folder", tf=True)
def bench_missing(d, shared):
    return ["bench", "--arch", shared["arch"], "--batch", "8", "--steps", "1", "--windows", "1", "--warmup", "1",
            "--json", os.path.join(d, "nowhere", "b.json")], []


# ---------------------------------------------------------------- running


def digest(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError as e:
        return f"unreadable: {e}"


# A small process runs the command and reports its exit status and peak RSS: a child's ru_maxrss includes the
# memory of the process it was forked from (kept across exec), so the measuring parent must be small.
MEASURE = ("import json, os, subprocess, sys\n"
           "p = subprocess.Popen(sys.argv[2:])\n"
           "_, status, usage = os.wait4(p.pid, 0)\n"
           "open(sys.argv[1], 'w').write(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss]))\n")


def run_case(root, argv, tf, cwd):
    """(exit status or 'timeout', seconds, peak MiB, stderr)."""
    limit = AS_TF if tf else AS_PLAIN
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    err = tempfile.TemporaryFile()
    report = tempfile.NamedTemporaryFile(delete=False).name
    os.remove(report)
    start = time.perf_counter()
    proc = subprocess.Popen(["prlimit", f"--as={limit}", sys.executable, "-c", MEASURE, report, sys.executable,
                             "-m", "inception_keras", *argv], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    seconds = time.perf_counter() - start
    try:
        with open(report) as f:
            status, peak = json.load(f)
        os.remove(report)
    except (OSError, ValueError):
        status, peak = "timeout" if seconds >= TIMEOUT else f"killed ({proc.returncode})", 0
    err.seek(0)
    text = err.read().decode("utf-8", "backslashreplace")
    return status, seconds, peak / 1024, text


def shared_setup(root, d):
    import numpy as np

    arch, recipe, data = tiny_inputs(d)
    run = os.path.join(d, "tiny-run")
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    subprocess.run([sys.executable, "-m", "inception_keras", "train", "--arch", arch, "--recipe", recipe,
                    "--run-dir", run], env=env, cwd=root, check=True, capture_output=True)
    from PIL import Image

    png = os.path.join(d, "x.png")
    Image.new("L", (16, 16), 90).save(png)
    if not os.environ.get("HARDENING_STATE"):
        from test_golden import tv_ref, tv_state

        path = os.path.join(d, "tv.npz")
        np.savez(path, **tv_state(tv_ref(224)))
        os.environ["HARDENING_STATE"] = path
    return {"arch": arch, "recipe": recipe, "data": data, "run": run, "png": png}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=HERE)
    p.add_argument("--out")
    p.add_argument("--only", help="substrings of the case names to run, separated by |")
    p.add_argument("--table", nargs=2, metavar=("BEFORE", "AFTER"))
    a = p.parse_args()
    if a.table:
        return print_table(*a.table)
    root = os.path.abspath(a.root)
    results = []
    with tempfile.TemporaryDirectory() as top:
        shared = shared_setup(root, os.path.join(top, "shared"))
        for name, tf, setup in CASES:
            if a.only and not any(part in name for part in a.only.split("|")):
                continue
            d = tempfile.mkdtemp(dir=top)
            argv, protected = setup(d, shared)
            before = {p: digest(p) for p in protected}
            status, seconds, peak, err = run_case(root, argv, tf, root)
            intact = all(digest(p) == h for p, h in before.items())
            lines = [x for x in err.splitlines() if x.strip()]
            last = next((x for x in lines if x.startswith(("error:", "Traceback"))), lines[-1] if lines else "")
            row = {"case": name, "status": status, "seconds": round(seconds, 1), "peak_mib": round(peak),
                   "intact": intact, "traceback": "Traceback" in err, "error_lines": sum(
                       x.startswith("error:") for x in lines), "message": last[:300]}
            results.append(row)
            print(json.dumps(row), flush=True)
            shutil.rmtree(d, ignore_errors=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)


def print_table(before_path, after_path):
    with open(before_path) as f:
        before = {r["case"]: r for r in json.load(f)}
    with open(after_path) as f:
        after = json.load(f)
    print("| case | before: exit, seconds, peak RSS | after | files it did not own intact, before / after |")
    print("|---|---|---|---|")
    for r in after:
        b = before.get(r["case"], {})

        def cell(x):
            if not x:
                return "-"
            if x["status"] == "timeout":
                return f"hung or still working: killed at {TIMEOUT} s"
            tb = ", traceback" if x.get("traceback") else ""
            return f"{x['status']}{tb}, {x['seconds']} s, {x['peak_mib']} MiB"
        print(f"| {r['case']} | {cell(b)} | {cell(r)} | {b.get('intact', '-')} / {r['intact']} |")


if __name__ == "__main__":
    sys.exit(main())

"""The output cases of issue 33 (`--force` and the files a command writes) as real processes against a checkout:
each case builds its files in a fresh folder, runs `python -m inception_keras ...` there with PYTHONPATH=ROOT and
records the exit status, the last line of stderr (or "traceback") and whether the files the user owned are intact.

    python tools/output_cases.py --root CHECKOUT [--only NAME ...]

Run it against the code before a change and after it (docs/reliability.md, "Outputs"). It deletes nothing but
its own temporary folder; every case runs inside it (the `.` cases in a folder of their own).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(os.path.dirname(HERE), "tests"), HERE]
from conftest import TINY_ARCH, TINY_RECIPE, write_bars  # noqa: E402
from hardening_cases import fake_run  # noqa: E402

BENCH = ["bench", "--arch", "ARCH", "--recipe", "RECIPE", "--batch", "4", "--steps", "1", "--windows", "1",
         "--warmup", "1", "--precision", "float32"]
SEARCH = "trials: 1\nseeds: 1\nmetric: val_accuracy\nfixed: {epochs: 1}\nspace:\n  optimizer.learning_rate: " \
         "{log_uniform: [0.002, 0.05]}\n"


def user_folder(path: str) -> str:
    os.makedirs(path)
    with open(os.path.join(path, "keep.txt"), "w") as f:
        f.write("mine\n")
    return path


def run_folder(d: str, name: str) -> str:
    run = fake_run(d, name)
    with open(os.path.join(run, "state.json"), "w") as f:
        f.write('{"status": "finished", "epochs_done": 3, "epochs_planned": 3}\n')
    return run


def victim_link(d: str, name: str) -> str:
    with open(os.path.join(d, "victim.txt"), "w") as f:
        f.write("someone else's file\n")
    os.symlink("victim.txt", os.path.join(d, name))
    return os.path.join(d, name)


def existing(d: str, name: str) -> str:
    with open(os.path.join(d, name), "w") as f:
        f.write("keep me\n")
    return os.path.join(d, name)


# name -> (argv with OUT/ARCH/RECIPE/RUN/SEARCH placeholders, setup(d) -> {path: what must still be there}, cwd)
CASES = {
    "summary --plot D.png --force (D.png a folder of the user's)":
        (["summary", "ARCH", "--plot", "D.png", "--force"], lambda d: user_folder(os.path.join(d, "D.png")), "."),
    "summary --plot ../W.png --force (W.png the working directory)":
        (["summary", "ARCH", "--plot", "../W.png", "--force"], lambda d: user_folder(os.path.join(d, "W.png")),
         "W.png"),
    "summary --plot F.png --force (F.png a FIFO)":
        (["summary", "ARCH", "--plot", "F.png", "--force"], lambda d: os.mkfifo(os.path.join(d, "F.png")), "."),
    "compare --plot D.png --force (D.png a folder of the user's)":
        (["compare", "RUN", "--plot", "D.png", "--force"], lambda d: user_folder(os.path.join(d, "D.png")), "."),
    "show --out D.png --force (D.png a folder of the user's)":
        (["show", "--arch", "ARCH", "--recipe", "RECIPE", "--rows", "1", "--cols", "2", "--out", "D.png", "--force"],
         lambda d: user_folder(os.path.join(d, "D.png")), "."),
    "bench --json RUN --force (a finished run directory)": ([*BENCH, "--json", "R", "--force"],
                                                           lambda d: run_folder(d, "R"), "."),
    "bench --json . --force (the working directory)": ([*BENCH, "--json", ".", "--force"],
                                                      lambda d: user_folder(os.path.join(d, "W")), "W"),
    "bench --json R.json --force (a finished run directory named R.json)":
        ([*BENCH, "--json", "R.json", "--force"], lambda d: run_folder(d, "R.json"), "."),
    "bench --json ../W.json --force (W.json the working directory)":
        ([*BENCH, "--json", "../W.json", "--force"], lambda d: user_folder(os.path.join(d, "W.json")), "W.json"),
    "search --report --plot L.png (L.png a link to the user's file), no --force":
        (["search", "SPACE", "--arch", "ARCH", "--recipe", "RECIPE", "--search-dir", "SEARCH", "--report",
          "--plot", "L.png"], lambda d: victim_link(d, "L.png"), "."),
    "search --report --plot E.png (E.png an existing file), no --force":
        (["search", "SPACE", "--arch", "ARCH", "--recipe", "RECIPE", "--search-dir", "SEARCH", "--report",
          "--plot", "E.png"], lambda d: existing(d, "E.png"), "."),
    "import-weights keras W.h5 --out E.keras --force (E.keras an existing file)":
        (["import-weights", "keras", "W.h5", "--arch", "arch/inception_v3.yaml", "--out", "E.keras", "--force"],
         lambda d: existing(d, "E.keras"), "."),
}


def snapshot(d: str) -> dict:
    """Every path under d (but the search's and the data's) -> its kind and, for a file, its bytes."""
    out = {}
    for folder, dirs, files in os.walk(d):
        dirs[:] = [x for x in dirs if x not in ("search", "data")]
        for name in dirs + files:
            p = os.path.join(folder, name)
            if os.path.islink(p):
                out[p] = ("link", os.readlink(p))
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    out[p] = ("file", f.read())
            else:
                out[p] = ("other", None)
    return out


def run_case(root: str, base: str, shared: dict, name: str) -> str:
    argv, setup, cwd = CASES[name]
    d = os.path.join(base, f"case{list(CASES).index(name)}")
    os.makedirs(d)
    setup(d)
    before = snapshot(d)
    subst = {"ARCH": shared["arch"], "RECIPE": shared["recipe"], "RUN": shared["run"], "SPACE": shared["space"],
             "SEARCH": shared["search"]}
    argv = [subst.get(a, a) for a in argv]
    argv = [os.path.join(root, a) if a.startswith("arch/") else a for a in argv]
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3")
    try:
        r = subprocess.run([sys.executable, "-m", "inception_keras", *argv], cwd=os.path.join(d, cwd), env=env,
                           capture_output=True, text=True, timeout=600)
        code, err = r.returncode, r.stderr
    except (subprocess.TimeoutExpired, FileNotFoundError, OSError) as e:
        code, err = None, f"{type(e).__name__}: {e}"
    after = snapshot(d) if os.path.isdir(d) else {}
    lost = sorted(os.path.relpath(p, d) for p, v in before.items() if after.get(p) != v)
    tail = "traceback" if "Traceback" in err else (err.strip().splitlines() or [""])[-1][:160]
    return f"| {name} | exit {code}: {tail} | {'intact' if not lost else 'changed: ' + ', '.join(lost)} |"


def prepare(base: str, root: str, search: bool) -> dict:
    """The tiny files every case uses; with `search`, a finished one-trial search for the --report cases."""
    data = write_bars(os.path.join(base, "data"), 64, 32)
    arch, recipe, space = (os.path.join(base, n) for n in ("tiny.yaml", "recipe.yaml", "space.yaml"))
    for path, text in ((arch, TINY_ARCH), (recipe, TINY_RECIPE.replace("DATA", data)), (space, SEARCH)):
        with open(path, "w") as f:
            f.write(text)
    shared = {"arch": arch, "recipe": recipe, "space": space, "run": fake_run(base, "a-run"),
              "search": os.path.join(base, "search")}
    if search:
        env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3")
        r = subprocess.run([sys.executable, "-m", "inception_keras", "search", space, "--arch", arch, "--recipe",
                            recipe, "--search-dir", shared["search"]], env=env, capture_output=True, text=True,
                           timeout=900)
        if r.returncode:
            sys.exit(f"the search that the search cases need failed:\n{r.stderr[-2000:]}")
    return shared


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="the checkout whose code runs (PYTHONPATH)")
    p.add_argument("--only", nargs="*", help="substrings of the case names to run")
    args = p.parse_args()
    root = os.path.abspath(args.root)
    base = tempfile.mkdtemp(prefix="output-cases-")
    try:
        names = [n for n in CASES if not args.only or any(s in n for s in args.only)]
        shared = prepare(base, root, any(n.startswith("search") for n in names))
        for name in names:
            print(run_case(root, base, shared, name), flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

"""`inception-keras sweep`: a grid of runs over `--set` values, each point an ordinary run directory.

    inception-keras sweep --set seed=0..3 --set optimizer.learning_rate=0.05,0.1

The grid (axes, points, their configurations and run directories) is engine/grid.py's; this module runs the
points and says where each stands.

Every point is a run directory `<sweep dir>/<key=value,...>` that `train` writes as usual, so a sweep resumes
like any run: run the same command again and finished points are skipped, an interrupted one continues after
its last committed epoch.

Each point trains in a child process (`inception-keras sweep ... --index I`, which calls
`train(TrainOptions(...))`), for these reasons:
- TensorFlow state that cannot be reset in a process: the tf.distribute strategy and logical devices are
  configured once per process (a sweep over `strategy` or `cpu_devices` could not run in one), GPU memory is
  never returned, and a multi-worker collective is set up once;
- global Keras state (the mixed-precision policy, random seeds, name counters) would otherwise carry from
  one point into the next: in a fresh process nothing can leak;
- a point that kills its process (out of memory, a crash) is reported, and the sweep goes on.
The price is TensorFlow's start-up per point (seconds, against minutes to hours of training). A child dies
with the sweep (Linux: PR_SET_PDEATHSIG), so a killed sweep leaves no process training behind.

`--index I` (or the environment variable JOB_COMPLETION_INDEX that a Kubernetes Indexed Job gives each pod)
runs point I alone, in this process; `--list` prints the points. Without them the sweep runs every point that
is not finished; the command line then prints the grouped comparison of all points (experiments.points, through
compare).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from inception_keras import runs
from inception_keras.engine.plan import TrainOptions
from inception_keras.errors import ConfigError, Interrupted
from inception_keras.experiments.grid import Point, Sweep

INDEX_ENV = "JOB_COMPLETION_INDEX"


# ----------------------------------------------------------------------------- one point


def point_status(point: Point) -> str:
    """new, finished, running (another process trains it), interrupted, failed, or different (the directory
    holds a run of another configuration)."""
    if not os.path.isdir(point.run_dir):
        return "new"
    try:
        config = runs.read_config(point.run_dir)
        state = runs.read_state(point.run_dir)
    except ConfigError:
        return "unreadable"
    if config is not None and not runs.same_config(runs.resolved_config(config), point.config):
        return "different"
    return runs.run_status(point.run_dir, state) or "new"


_BROKEN = {"different": "{} holds a run of another configuration; move it away or choose another --sweep-dir",
           "unreadable": "{}: its config.yaml or state.json cannot be read; move it away or repair it"}


def run_point(sweep: Sweep, index: int, log=None) -> str:
    """Train point `index` in this process (skipped when finished); return its run directory."""
    from inception_keras.engine.trainer import train

    if not 0 <= index < len(sweep.points):
        raise ConfigError(f"--index {index}: the sweep has {len(sweep.points)} points (0..{len(sweep.points) - 1})")
    point = sweep.points[index]
    log = log or (lambda *parts: print(*parts, flush=True))
    status = point_status(point)
    if status in ("different", "unreadable"):
        raise ConfigError(f"sweep point {index} ({point.label}): {_BROKEN[status].format(point.run_dir)}")
    if status == "finished":
        log(f"sweep point {index} ({point.label}): finished already, in {point.run_dir}")
        return point.run_dir
    log(f"sweep point {index} of {len(sweep.points)} ({point.label}): {point.run_dir}")
    o = sweep.options
    return train(TrainOptions(o.arch, o.recipe, run_dir=point.run_dir, sets=tuple(o.sets) + tuple(point.sets),
                              limit=o.limit, data_dir=o.data_dir, strategy=o.strategy, verbose=o.verbose), log=log)


def index_from_env(environ=None) -> int | None:
    """JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's pod index), or None when it is not set."""
    text = (environ if environ is not None else os.environ).get(INDEX_ENV)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{INDEX_ENV}={text}: expected a point index (an integer >= 0)") from None
    if value < 0:
        raise ConfigError(f"{INDEX_ENV}={text}: expected a point index (an integer >= 0)")
    return value


# ----------------------------------------------------------------------------- every point


def die_with_parent(parent: int):
    """preexec_fn: the child gets SIGKILL when the sweep dies (Linux), so a killed sweep leaves no trainer."""

    def prepare():
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # the sweep died before prctl
            os._exit(137)

    return prepare


def child_env() -> dict:
    """The environment of a child `python -m inception_keras`: this package first on PYTHONPATH, no pod index."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([package_parent] + [p for p in [env.get("PYTHONPATH")] if p])
    env.pop(INDEX_ENV, None)
    return env


def _run_child(argv: list[str]) -> int:
    """Run `python -m inception_keras ARGV`; SIGTERM/SIGINT to the sweep are passed on and end the sweep."""
    proc = subprocess.Popen([sys.executable, "-m", "inception_keras", *argv], env=child_env(), process_group=0,
                            preexec_fn=die_with_parent(os.getpid()))
    stopping: list[int] = []

    def forward(signum, frame):
        stopping.append(signum)
        proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        rc = proc.wait()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if stopping:
        raise Interrupted(stopping[0])
    return rc


def run_sweep(sweep: Sweep, log=None) -> dict[int, str]:
    """Run every point that is not finished, each in a child process; return {index: problem} of the points
    that did not finish (an empty dict when all did)."""
    log = log or (lambda *parts: print(*parts, flush=True))
    problems: dict[int, str] = {}
    n = len(sweep.points)
    log(f"sweep: {n} points in {sweep.directory}")
    for point in sweep.points:
        status = point_status(point)
        where = f"sweep point {point.index} of {n} ({point.label})"
        if status == "finished":
            log(f"{where}: finished already, skipped")
            continue
        if status == "running":
            problems[point.index] = f"another process is training it in {point.run_dir}"
            log(f"{where}: {problems[point.index]}; skipped")
            continue
        if status in _BROKEN:
            problems[point.index] = _BROKEN[status].format(point.run_dir)
            log(f"{where}: {problems[point.index]}; skipped")
            continue
        rc = _run_child(sweep.child_args(point.index))
        if rc != 0:
            what = (f"killed by signal {signal.Signals(-rc).name}" if rc < 0 else f"exit status {rc}")
            state = runs.read_state(point.run_dir) if os.path.isdir(point.run_dir) else None
            detail = f": {state['error']}" if state and state.get("error") else ""
            problems[point.index] = f"failed ({what}){detail}; its run directory: {point.run_dir}"
            log(f"{where}: {problems[point.index]}")
    return problems


def list_text(sweep: Sweep) -> str:
    """The points: index, status, epochs done/planned, run directory and values."""
    head = [f"sweep {sweep.directory}: {len(sweep.points)} points, axes "
            + ", ".join(f"{a.key} ({len(a.values)})" for a in sweep.axes)]
    rows = [("index", "status", "epochs", "values", "run directory")]
    for p in sweep.points:
        status = point_status(p)
        state = (runs.read_state(p.run_dir) if status not in ("new", "unreadable") else None) or {}
        planned = p.config["recipe"]["epochs"]
        rows.append((str(p.index), status, f"{state.get('epochs_done', 0)}/{planned}", p.label, p.run_dir))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    return "\n".join(head + lines)


def run_index(sweep: Sweep, index: int, source: str = "--index") -> str:
    """Train point `index` alone in this process, as `--index I` or $JOB_COMPLETION_INDEX (`source`, which the
    message for an index out of range names) asks; TensorFlow is prepared only when the point needs training."""
    from inception_keras.engine.tf_runtime import prepare_tensorflow

    n = len(sweep.points)
    if not 0 <= index < n:
        raise ConfigError(f"{source} {index}: the sweep has {n} points (0..{n - 1})")
    if point_status(sweep.points[index]) != "finished":  # a finished point needs no TensorFlow
        prepare_tensorflow()
    return run_point(sweep, index)


def trained_dirs(sweep: Sweep) -> list[str]:
    """The run directories of the points that have epochs (a metrics.csv): what a comparison can read."""
    return [p.run_dir for p in sweep.points if os.path.exists(os.path.join(p.run_dir, runs.METRICS))]

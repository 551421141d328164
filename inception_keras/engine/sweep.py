"""`inception-keras sweep`: a grid of runs over `--set` values, each point an ordinary run directory.

    inception-keras sweep --set seed=0..3 --set optimizer.learning_rate=0.05,0.1

A `--set KEY=V1,V2,...` with several values (split on top-level commas only, so `arch.input=[64,64,1]` is one
value) or an integer range (`seed=0..9`, both ends included) is an axis of the grid; a `--set` with one value
applies to every point. The points are the product of the axes, the last axis varying fastest; each value is
read as YAML and every point's configuration is checked by the schema before anything trains.

Every point is a run directory `<sweep dir>/<key=value,...>` that `train` writes as usual, so a sweep resumes
like any run: run the same command again and finished points are skipped, an interrupted one continues after
its last committed epoch. The default sweep directory is named after the architecture, the recipe, the swept
keys and a hash of the configuration they vary from, so that the same command finds it again (and a command
with more values for the same keys adds points to it).

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
is not finished, then prints the grouped comparison of all points (compare.py).
"""
from __future__ import annotations

import hashlib
import itertools
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field

import yaml

from inception_keras.runs import store as runs
from inception_keras.errors import ConfigError, Interrupted
from inception_keras.lang.overrides import KEY_PATTERN
from inception_keras.engine.plan import TrainOptions, resolve
from inception_keras.lang.reader import read_value

INDEX_ENV = "JOB_COMPLETION_INDEX"
MAX_POINTS = 10_000
_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")
_OPEN, _CLOSE = "[{(", "]})"


@dataclass(frozen=True)
class Axis:
    """One swept key and its values (as read from YAML), in the order given."""

    key: str
    values: tuple


@dataclass(frozen=True)
class Point:
    index: int
    values: tuple  # ((key, value), ...), one per axis
    run_dir: str
    config: dict = field(repr=False, compare=False, default=None)

    @property
    def label(self) -> str:
        """`seed=0,optimizer.learning_rate=0.05`: the point's values as `--set`s would give them."""
        return ",".join(f"{k}={value_text(v)}" for k, v in self.values)

    @property
    def sets(self) -> list[str]:
        return [f"{k}={value_text(v)}" for k, v in self.values]


@dataclass
class Sweep:
    options: TrainOptions  # arch, recipe, limit, data_dir, strategy, runs_root; `sets` are the fixed --sets
    axes: list
    directory: str
    points: list

    def child_args(self, index: int) -> list[str]:
        """The command line (after `inception-keras`) that runs point `index` alone."""
        o = self.options
        args = ["sweep", "--arch", o.arch, "--recipe", o.recipe, "--sweep-dir", self.directory,
                "--index", str(index)]
        for s in o.sets:
            args += ["--set", s]
        for axis in self.axes:
            args += ["--set", f"{axis.key}={','.join(value_text(v) for v in axis.values)}"]
        for flag, value in (("--limit", o.limit), ("--data-dir", o.data_dir), ("--strategy", o.strategy)):
            if value is not None:
                args += [flag, str(value)]
        return args


# ----------------------------------------------------------------------------- the grid


def value_text(value) -> str:
    """A value as one-line YAML that reads back as the same value, also as an item of a grid's comma list
    (`0.05`, `[64, 64, 1]`, `"a,b"`)."""
    import json

    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip()
    text = text[:-len("...")].strip() if text.endswith("...") else text
    if isinstance(value, str) and (len(split_values(text)) > 1 or _RANGE.match(text)):
        text = json.dumps(value)  # a JSON string is a YAML double-quoted scalar
    return text


def split_values(text: str) -> list[str]:
    """Split on commas outside brackets, braces and quotes: `0,[64,64,1],'a,b'` -> 3 items."""
    items, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


def _values(key: str, text: str) -> list:
    """The values of one `--set KEY=TEXT`: each comma-separated item read as YAML, ranges expanded."""
    if not text.strip():
        raise ConfigError(f"--set {key}=: no values (give one or more, separated by commas, or a range such as 0..9)")
    out = []
    for item in split_values(text):
        m = _RANGE.match(item)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise ConfigError(f"--set {key}={text}: the range {item.strip()} is empty (write it low..high)")
            if hi - lo >= MAX_POINTS:
                raise ConfigError(f"--set {key}={text}: the range {item.strip()} has more than {MAX_POINTS:,} values")
            out += list(range(lo, hi + 1))
            continue
        if not item.strip():
            raise ConfigError(f"--set {key}={text}: an empty value between commas")
        try:
            out.append(read_value(item))
        except ConfigError as e:
            reason = e.problems[0].message if e.problems else str(e)
            raise ConfigError(f"--set {key}={text}: cannot read the value '{item.strip()}': {reason}") from None
    seen: list = []
    for v in out:
        if any(runs.same_config({"v": v}, {"v": w}) for w in seen):
            raise ConfigError(f"--set {key}={text}: the value {value_text(v)} is given twice")
        seen.append(v)
    return out


def parse_grid(items: list[str]) -> tuple[list[str], list[Axis]]:
    """`--set` strings -> (fixed `KEY=VALUE` sets, axes). A key given twice, a bad key or value: ConfigError."""
    fixed, axes, keys = [], [], []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set: expected KEY=VALUE or KEY=V1,V2,..., got '{item}'")
        if not KEY_PATTERN.match(key):
            raise ConfigError(f"--set {key}: expected a dotted path of names like optimizer.learning_rate")
        if key in keys:
            raise ConfigError(f"--set {key}: given twice; give all its values in one --set {key}=V1,V2,...")
        keys.append(key)
        values = _values(key, text)
        if len(values) == 1 and not _RANGE.match(text):
            fixed.append(f"{key}={value_text(values[0])}")
        else:
            axes.append(Axis(key, tuple(values)))
    return fixed, axes


def _short_keys(axes: list[Axis]) -> list[str]:
    """The last part of each key (`learning_rate`), or the whole key where two axes end alike."""
    last = [a.key.replace("[", ".").split(".")[-1].rstrip("]") for a in axes]
    return [s if last.count(s) == 1 else a.key for s, a in zip(last, axes)]


def _dir_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "_"


def point_dir_name(short: list[str], values: tuple) -> str:
    """`seed=0,learning_rate=0.05`; characters other than letters, digits and . _ + - become _."""
    name = ",".join(f"{_dir_part(k)}={_dir_part(value_text(v))}" for k, (_, v) in zip(short, values))
    if len(name) > 200:
        name = name[:180] + "-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return name


def default_directory(options: TrainOptions, axes: list[Axis], first) -> str:
    """`<runs root>/sweep-<arch>-<recipe>-<swept keys>-<hash>`: the hash is of the configuration the points
    vary from (the files with the fixed `--set`s) and of the swept keys, not their values, so that the same
    command finds the sweep again and more values for the same keys add points to it. `first`: the first
    point's (spec, recipe, config), for the names (and the hash, when the files alone are incomplete)."""
    spec, recipe, config = first
    try:
        base = resolve(options.arch, options.recipe, options.sets, options.limit, options.data_dir,
                       options.strategy)[2]
    except ConfigError:  # a key that only the swept values complete: the inputs as given
        base = {"arch": os.path.abspath(options.arch), "recipe": os.path.abspath(options.recipe),
                "sets": list(options.sets), "limit": options.limit, "data_dir": options.data_dir,
                "strategy": options.strategy}
    digest = hashlib.sha256(runs.dump_config({"base": base, "axes": [a.key for a in axes]}).encode())
    keys = "+".join(_dir_part(k) for k in _short_keys(axes))
    return os.path.join(options.runs_root, f"sweep-{spec.name}-{recipe.name}-{keys[:60]}-{digest.hexdigest()[:8]}")


def make_sweep(grid: list[str], options: TrainOptions = TrainOptions(), directory: str | None = None) -> Sweep:
    """The sweep of `grid` (`--set` strings, several values each) from `options`; every point checked.

    Raises ConfigError for a bad grid (empty, a key given twice, a value that is not YAML, a repeated value)
    and for points whose configuration the schema refuses, naming each such point.
    """
    fixed, axes = parse_grid(list(options.sets) + list(grid))
    if not axes:
        raise ConfigError("the grid is empty: give at least one --set with several values (KEY=V1,V2,...) or a "
                          "range (seed=0..9)")
    options = TrainOptions(options.arch, options.recipe, sets=tuple(fixed), limit=options.limit,
                           data_dir=options.data_dir, strategy=options.strategy, runs_root=options.runs_root,
                           verbose=options.verbose)
    combos = list(itertools.product(*[[(a.key, v) for v in a.values] for a in axes]))
    if len(combos) > MAX_POINTS:
        raise ConfigError(f"the grid has {len(combos):,} points, more than {MAX_POINTS:,}")
    checked, problems = [], []
    for i, values in enumerate(combos):
        point = Point(i, tuple(values), "")
        try:
            checked.append(resolve(options.arch, options.recipe, fixed + point.sets, options.limit, options.data_dir,
                                   options.strategy))
        except ConfigError as e:
            problems.append(f"sweep point {i} ({point.label}): {e}")
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more points"] if len(problems) > 10 else [])
        raise ConfigError(f"{len(problems)} of {len(combos)} sweep points are not valid:\n" + "\n".join(shown)
                          if len(problems) > 1 else problems[0])
    if directory is None:
        directory = default_directory(options, axes, checked[0])
    short = _short_keys(axes)
    points, dirs = [], {}
    for i, (values, (_, _, config)) in enumerate(zip(combos, checked)):
        point = Point(i, tuple(values), os.path.join(directory, point_dir_name(short, values)), config)
        if point.run_dir in dirs:
            raise ConfigError(f"sweep point {i} ({point.label}): its run directory {point.run_dir} would be point "
                              f"{dirs[point.run_dir]}'s too; give values that differ in letters or digits")
        dirs[point.run_dir] = i
        points.append(point)
    return Sweep(options, axes, directory, points)


# ----------------------------------------------------------------------------- one point


def point_status(point: Point) -> str:
    """new, finished, running (another process trains it), interrupted, failed, or different (the directory
    holds a run of another configuration)."""
    from inception_keras.runs.config import resolved_config

    if not os.path.isdir(point.run_dir):
        return "new"
    try:
        config = runs.read_config(point.run_dir)
        state = runs.read_state(point.run_dir) or {}
    except ConfigError:
        return "unreadable"
    if config is not None and not runs.same_config(resolved_config(config), point.config):
        return "different"
    status = state.get("status") or "new"
    if status == "finished":
        return status
    if runs.is_locked(point.run_dir):
        return "running"
    return "interrupted" if status == "running" else status


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


def _die_with_parent(parent: int):
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


def _run_child(args: list[str]) -> int:
    """Run `python -m inception_keras ARGS`; SIGTERM/SIGINT to the sweep are passed on and end the sweep."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([package_parent] + [p for p in [env.get("PYTHONPATH")] if p])
    env.pop(INDEX_ENV, None)
    proc = subprocess.Popen([sys.executable, "-m", "inception_keras", *args], env=env, process_group=0,
                            preexec_fn=_die_with_parent(os.getpid()))
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


def main(args) -> int:
    from inception_keras.engine.tf_runtime import prepare_tensorflow
    from inception_keras.compare.core import group_table, load_runs, plot_groups, render

    options = TrainOptions(args.arch, args.recipe, limit=args.limit, data_dir=args.data_dir, strategy=args.strategy,
                           runs_root=args.runs_root)
    if args.plot and not str(args.plot).lower().endswith(".png"):
        raise ConfigError(f"--plot {args.plot}: the plot is a PNG; name a file ending in .png")
    sweep = make_sweep(args.set, options, args.sweep_dir)
    if args.list:
        print(list_text(sweep))
        return 0
    index = args.index if args.index is not None else index_from_env()
    if index is not None:
        if not 0 <= index < len(sweep.points):
            source = "--index" if args.index is not None else INDEX_ENV
            n = len(sweep.points)
            raise ConfigError(f"{source} {index}: the sweep has {n} points (0..{n - 1})")
        if point_status(sweep.points[index]) != "finished":  # a finished point needs no TensorFlow
            prepare_tensorflow()
        run_point(sweep, index)
        return 0
    problems = run_sweep(sweep)
    done = [p.run_dir for p in sweep.points if os.path.exists(os.path.join(p.run_dir, runs.METRICS))]
    if done:
        run_list = load_runs(done, lambda file, message: print(f"warning: {file}: {message}", file=sys.stderr))
        if run_list and not any(args.metric in r.columns for r in run_list):
            print(f"warning: --metric {args.metric}: no point records it; no comparison (inception-keras compare "
                  f"'{os.path.join(sweep.directory, '*')}' --metric ...)", file=sys.stderr)
        elif run_list:
            df = group_table(run_list, args.metric)
            print(f"\nsweep {sweep.directory}: {len(run_list)} of {len(sweep.points)} points have epochs; "
                  f"grouped by everything but the seed:")
            print(render(df, args.metric, args.format), flush=True)
            if args.plot:
                by_path = {r.path: r for r in run_list}
                plot_groups([[by_path[p] for p in paths] for paths in df["paths"]], list(df["group"]), args.plot)
                print(f"plot: {args.plot}", file=sys.stderr)
    if problems:
        print(f"error: {len(problems)} of {len(sweep.points)} sweep points did not finish:", file=sys.stderr)
        for i, text in problems.items():
            print(f"  point {i} ({sweep.points[i].label}): {text}", file=sys.stderr)
        print("run the same command again to resume them", file=sys.stderr)
        return 1
    return 0

"""The search space of `inception-keras search`, read from YAML with file/line errors. No Optuna, no TensorFlow:
this module only reads and checks the file; engine/search.py runs the study.

    trials: 8                 # how many trials (each a seed group)
    seeds: 3                  # seeds 0..2 per trial, or a list [0, 5, 7]
    metric: val_accuracy      # objective: the group's mean of this at the last epoch
    direction: maximize       # default: minimize for a metric ending in `loss`, else maximize
    sampler: {name: tpe, seed: 0, startup_trials: 3}     # or {name: random, seed: 0}
    pruner: {name: median, warmup_epochs: 1}             # or none (the default)
    fixed: {epochs: 2, dataset.limit: 2000}              # --set keys every trial gets
    space:                    # --set keys (arch. prefixes an architecture key) and their distributions
      optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
      optimizer.weight_decay: {uniform: [0.0, 0.1]}
      batch_size: {int: [32, 128], step: 32}
      arch.defaults.batch_norm: {choice: [true, false]}
"""
from __future__ import annotations

from dataclasses import dataclass, field

from inception_keras.errors import ConfigError
from inception_keras.lang.overrides import KEY_PATTERN
from inception_keras.lang.reader import Document, load_document

KINDS = ("log_uniform", "uniform", "int", "choice")
PRUNERS = ("none", "median")
SAMPLERS = ("tpe", "random")
TOP_KEYS = ("trials", "seeds", "metric", "direction", "sampler", "pruner", "fixed", "space")
MAX_TRIALS = 10_000


@dataclass(frozen=True)
class Dimension:
    """One searched key: `kind` one of KINDS; `low`/`high` for the ranges, `choices` for choice; `step`, `log`
    for int."""

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    choices: tuple = ()
    step: int = 1
    log: bool = False


@dataclass
class SearchSpace:
    file: str
    trials: int
    seeds: tuple
    metric: str
    direction: str  # "maximize" or "minimize"
    dimensions: list
    fixed: dict = field(default_factory=dict)  # key -> value
    sampler: dict = field(default_factory=lambda: {"name": "tpe"})
    pruner: dict = field(default_factory=lambda: {"name": "none"})

    def as_dict(self) -> dict:
        """The space as plain data (stored with the study, so a resumed search can refuse another space)."""
        return {"trials": self.trials, "seeds": list(self.seeds), "metric": self.metric,
                "direction": self.direction, "sampler": dict(self.sampler), "pruner": dict(self.pruner),
                "fixed": dict(self.fixed),
                "space": {d.key: {"kind": d.kind, "low": d.low, "high": d.high, "choices": list(d.choices),
                                  "step": d.step, "log": d.log} for d in self.dimensions}}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class _Checker:
    """Collects every problem of one file, each with its YAML path and line."""

    def __init__(self, doc: Document):
        self.doc, self.problems = doc, []

    def fail(self, path: tuple, message: str, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, key))

    def mapping(self, value, path: tuple, what: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping ({what})")
            return {}
        return value


def _dimension(c: _Checker, key: str, spec) -> Dimension | None:
    path = ("space", key)
    if not KEY_PATTERN.match(str(key)):
        c.fail(path, "expected a dotted key like optimizer.learning_rate (arch. prefixes an architecture key)", True)
        return None
    if not isinstance(spec, dict) or not (set(spec) & set(KINDS)) or len(set(spec) & set(KINDS)) > 1:
        c.fail(path, "expected one distribution: {log_uniform: [low, high]}, {uniform: [low, high]}, "
                     "{int: [low, high]} or {choice: [a, b, ...]}")
        return None
    kind = next(k for k in KINDS if k in spec)
    allowed = {"int": {"int", "step", "log"}}.get(kind, {kind})
    for extra in sorted(set(spec) - allowed, key=str):
        c.fail(path + (extra,), f"unknown key for a {kind} distribution (allowed: {', '.join(sorted(allowed))})",
               True)
    bounds = spec[kind]
    if kind == "choice":
        if not isinstance(bounds, list) or len(bounds) < 2:
            c.fail(path + (kind,), "expected a list of at least two values")
            return None
        if not all(v is None or isinstance(v, (bool, int, float, str)) for v in bounds):
            c.fail(path + (kind,), "the choices must be numbers, strings, true/false or null (Optuna's categories)")
            return None
        return Dimension(key, kind, choices=tuple(bounds))
    check = _is_int if kind == "int" else _is_number
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(check(b) for b in bounds)):
        c.fail(path + (kind,), f"expected [low, high], two {'integers' if kind == 'int' else 'numbers'}")
        return None
    low, high = bounds
    if not low < high:
        c.fail(path + (kind,), f"expected low < high, got [{low}, {high}]")
        return None
    if kind == "log_uniform" and low <= 0:
        c.fail(path + (kind,), f"a log-uniform range must be above 0, got low {low}")
        return None
    step, log = spec.get("step", 1), spec.get("log", False)
    if not _is_int(step) or step < 1:
        c.fail(path + ("step",), "expected an integer >= 1")
    if not isinstance(log, bool):
        c.fail(path + ("log",), "expected true or false")
    elif log and (low < 1 or step != 1):
        c.fail(path + ("log",), "a log int range needs low >= 1 and no step")
    return Dimension(key, kind, low, high, step=step if _is_int(step) else 1, log=bool(log))


def _seeds(c: _Checker, value) -> tuple:
    if _is_int(value) and 1 <= value <= 1000:
        return tuple(range(value))
    if isinstance(value, list) and value and all(_is_int(s) and s >= 0 for s in value) and \
            len(set(value)) == len(value):
        return tuple(value)
    c.fail(("seeds",), "expected the number of seeds per trial (1..1000) or a list of distinct seeds >= 0")
    return (0,)


def _option(c: _Checker, data: dict, key: str, names: tuple, allowed: dict) -> dict:
    """`sampler:` / `pruner:`: a name, or a mapping with `name` and its own keys."""
    value = data.get(key, names[0] if key == "sampler" else "none")
    value = {"name": value} if isinstance(value, str) else value
    if not isinstance(value, dict) or value.get("name") not in names:
        c.fail((key,), f"expected one of {', '.join(names)} (or a mapping with name: ...)")
        return {"name": names[0]}
    for k, v in value.items():
        if k == "name":
            continue
        if k not in allowed.get(value["name"], ()):
            c.fail((key, k), f"unknown key for the {value['name']} {key} (allowed: "
                             f"{', '.join(allowed.get(value['name'], ())) or 'none'})", True)
        elif not _is_int(v) or v < 0:
            c.fail((key, k), "expected an integer >= 0")
    return dict(value)


def load_search(file: str) -> SearchSpace:
    """Read and check a search file; every mistake is a ConfigError naming the file, YAML path and line."""
    doc = load_document(file, what="search file")
    c = _Checker(doc)
    data = c.mapping(doc.data, (), "a search file")
    for key in data:
        if key not in TOP_KEYS:
            c.fail((key,), f"unknown key (expected: {', '.join(TOP_KEYS)})", True)
    trials = data.get("trials")
    if not (_is_int(trials) and 1 <= trials <= MAX_TRIALS):
        c.fail(("trials",), f"expected the number of trials, an integer 1..{MAX_TRIALS}")
    seeds = _seeds(c, data.get("seeds", 1))
    metric = data.get("metric", "val_accuracy")
    if not isinstance(metric, str) or not metric:
        c.fail(("metric",), "expected a metrics.csv column such as val_accuracy")
        metric = "val_accuracy"
    direction = data.get("direction", "minimize" if metric.endswith("loss") else "maximize")
    if direction not in ("maximize", "minimize"):
        c.fail(("direction",), "expected maximize or minimize")
    sampler = _option(c, data, "sampler", SAMPLERS, {"tpe": ("seed", "startup_trials"), "random": ("seed",)})
    pruner = _option(c, data, "pruner", PRUNERS, {"median": ("warmup_epochs", "startup_trials")})
    fixed = c.mapping(data.get("fixed"), ("fixed",), "--set keys and their values")
    for key in fixed:
        if not KEY_PATTERN.match(str(key)):
            c.fail(("fixed", key), "expected a dotted key like epochs or dataset.limit", True)
    space = c.mapping(data.get("space"), ("space",), "keys and their distributions")
    if "space" in data and not space and isinstance(data.get("space"), dict):
        c.fail(("space",), "no keys to search")
    elif "space" not in data:
        c.fail((), "no `space:` (the keys to search and their distributions)")
    dims = [d for d in (_dimension(c, k, v) for k, v in space.items()) if d is not None]
    for d in dims:
        if d.key in fixed or d.key == "seed":
            c.fail(("space", d.key), "is also fixed (or is the seed, which `seeds:` gives); search it or fix it",
                   True)
    if c.problems:
        raise ConfigError(c.problems)
    return SearchSpace(file, trials, seeds, metric, direction, dims, dict(fixed), sampler, pruner)

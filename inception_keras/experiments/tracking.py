"""MLflow tracking of finished runs (the optional `mlflow` extra: pip install inception-keras[mlflow]).

Each run directory becomes one MLflow run: its config.yaml as params (flattened keys, `arch.stages.s1[0].conv
.filters` written `arch.stages.s1.0.conv.filters`, as MLflow's key rules want), every metrics.csv column as a
metric per epoch (step = epoch), and model.keras, config.yaml and metrics.csv as artifacts. A run directory
already logged (its absolute path is the MLflow tag `inception_keras.run_dir`) is not logged twice.

Where: $MLFLOW_TRACKING_URI when set (a server, a database), else a local file store `<runs root>/mlruns`
(MLflow 3 keeps its file store in maintenance mode and asks for MLFLOW_ALLOW_FILE_STORE=true, which this
module sets for that default store only). Reads the run's files; needs no TensorFlow.

Bounded: a tracking server that is down or never answers is an error within seconds, not minutes (MLflow's own
defaults wait 120 s per request and retry 7 times with growing back-off): unless the environment sets them,
MLFLOW_HTTP_REQUEST_TIMEOUT is `HTTP_TIMEOUT` seconds and MLFLOW_HTTP_REQUEST_MAX_RETRIES `HTTP_RETRIES`, with a
back-off factor of 1 s and no jitter. Whatever MLflow, the network or the store raise is one ConfigError naming
the tracking URI. A run whose metrics.csv is missing or holds no readable epoch is refused (nothing is logged
for it); cells that are not numbers are warned about and left out. Names (the run name, the tags) are shown as
`compare` shows them: bytes that are not UTF-8 as \\xNN.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import time

from inception_keras import runs, safeio
from inception_keras.errors import ConfigError

TAG = "inception_keras.run_dir"
EXPERIMENT = "inception-keras"
_BAD = re.compile(r"[^A-Za-z0-9_\-. /]")
MAX_PARAM = 6000  # MLflow's longest param value
HTTP_TIMEOUT, HTTP_RETRIES = 5, 1  # seconds per request, retries after the first try (see the module's notes)


def tracking_uri(runs_root: str) -> str:
    """$MLFLOW_TRACKING_URI, else the file store `<runs root>/mlruns`; a file store is allowed through
    MLFLOW_ALLOW_FILE_STORE (unless the environment says otherwise)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or "file:" + os.path.abspath(os.path.join(runs_root, "mlruns"))
    if uri.startswith("file:") or "://" not in uri:  # a local file store, which the user chose or we did
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise ConfigError("MLflow is not installed: pip install 'inception-keras[mlflow]' (or mlflow)") from None
    for name, value in (("TIMEOUT", HTTP_TIMEOUT), ("MAX_RETRIES", HTTP_RETRIES), ("BACKOFF_FACTOR", 1),
                        ("BACKOFF_JITTER", 0)):
        name = "MLFLOW_HTTP_REQUEST_" + name
        os.environ.setdefault(name, str(value))
    return mlflow


@contextlib.contextmanager
def mlflow_errors(uri: str):
    """Whatever MLflow, requests or the store raise (a server down, an unknown URI scheme, a file where the store's
    folder should be) as one ConfigError naming the tracking URI."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - MlflowException, requests' errors, OSError, sqlalchemy's ...
        text = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"MLflow tracking at {safeio.printable(safeio.shown(uri))[:200]} failed: {type(e).__name__}: "
                          f"{safeio.printable(text)[:300]}") from None


def params_of(config: dict) -> dict[str, str]:
    """config.yaml flattened to MLflow params: keys with only the characters MLflow allows, values as text."""
    out = {}
    for key, value in runs.flat_config(config).items():
        name = _BAD.sub(".", key.replace("[", ".").replace("]", "")).strip(".")
        out[name] = str(value)[:MAX_PARAM]
    return out


def metrics_of(run_dir: str, warn=None) -> list[tuple[str, float, int]]:
    """(name, value, epoch) of every finite number in metrics.csv; a ConfigError when it has no readable epoch
    (missing, not a CSV, not UTF-8), and what the reader passes over (a cell that is not a number) to `warn(path,
    message)`."""
    from inception_keras.runs.metrics import read_metrics

    path = os.path.join(run_dir, runs.METRICS)
    said = []
    frame = read_metrics(path, lambda file, message: said.append(message))
    if frame is None:
        reason = said[0] if said else "no epochs recorded"
        raise ConfigError(f"{safeio.shown(path)}: {reason.removesuffix('; skipped')}; the run is not logged to MLflow")
    for message in said:
        (warn or (lambda *a: None))(safeio.shown(path), message)
    out = []
    for record in frame.to_dict("records"):
        for name, value in record.items():
            if name != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                out.append((name, float(value), int(record["epoch"])))
    return out


@contextlib.contextmanager
def _store_lock(uri: str):
    """MLflow's file store checks an experiment's name within one process only: two search workers creating the
    study's experiment at once could make two of that name, and a run would land in the one nobody reads. For a
    file store the get-or-create runs under a lock file in the store (a server checks names itself)."""
    if not (uri.startswith("file:") or "://" not in uri):
        yield
        return
    import fcntl

    store = uri.removeprefix("file://") if uri.startswith("file://") else uri.removeprefix("file:")
    os.makedirs(store, exist_ok=True)
    fd = safeio.create_lock(os.path.join(store, ".inception_keras.lock"))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _experiment(mlflow, client, name: str) -> str:
    """The experiment's id, created when missing (another worker may create it at the same moment)."""
    exp = client.get_experiment_by_name(name)
    if exp:
        return exp.experiment_id
    try:
        return client.create_experiment(name)
    except mlflow.exceptions.MlflowException:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def log_run(run_dir: str, runs_root: str = "runs", experiment: str = EXPERIMENT, tags: dict | None = None,
            warn=None) -> str:
    """Log one finished run directory (skipped when logged already); return its MLflow run id. Its files are
    read first (a run without readable metrics is refused before MLflow is asked anything)."""
    mlflow = _mlflow()
    if not runs.is_finished(run_dir):
        raise ConfigError(f"{safeio.shown(run_dir)}: not a finished run; MLflow gets finished runs only")
    metrics = metrics_of(run_dir, warn)
    params = params_of(runs.read_config(run_dir) or {})
    uri = tracking_uri(runs_root)
    with mlflow_errors(uri):
        client = mlflow.MlflowClient(uri)
        with _store_lock(uri):
            exp_id = _experiment(mlflow, client, experiment)
        return _log(client, run_dir, exp_id, tags, params, metrics)


def _log(client, run_dir: str, exp_id: str, tags, params: dict, metrics: list) -> str:
    from mlflow.entities import Metric, Param, RunTag

    where = safeio.shown(os.path.abspath(run_dir))
    quote = '"' if "'" in where else "'"  # MLflow's filter strings take either quote (a path may hold one)
    found = client.search_runs([exp_id], filter_string=f"tags.`{TAG}` = {quote}{where}{quote}", max_results=1)
    if found:
        return found[0].info.run_id
    run = client.create_run(exp_id, run_name=os.path.basename(where),
                            tags={TAG: where, **{k: safeio.shown(str(v)) for k, v in (tags or {}).items()}})
    rid = run.info.run_id
    params = [Param(k, v) for k, v in params.items()]
    now = int(time.time() * 1000)
    metrics = [Metric(n, v, now, s) for n, v, s in metrics]
    for i in range(0, len(params), 100):
        client.log_batch(rid, params=params[i:i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(rid, metrics=metrics[i:i + 1000])
    client.log_batch(rid, tags=[RunTag("inception_keras.status", "finished")])
    for name in (runs.MODEL, runs.CONFIG, runs.METRICS):
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            client.log_artifact(rid, path)
    client.set_terminated(rid)
    return rid


def search_runs(directory: str) -> list[tuple[str, dict]]:
    """(run directory, tags) of a search directory's finished runs (`trial-*/seed=*`)."""
    import glob

    out = []
    for csv_path in sorted(glob.glob(os.path.join(glob.escape(directory), "*", "*", runs.METRICS))):
        run_dir = os.path.dirname(csv_path)
        if runs.is_finished(run_dir):
            out.append((run_dir, {"inception_keras.search": os.path.abspath(directory),
                                  "inception_keras.trial": os.path.basename(os.path.dirname(run_dir))}))
    return out


def log_paths(paths: list[str], runs_root: str = "runs", experiment: str = EXPERIMENT,
              warn=None) -> list[tuple[str, str]]:
    """Log run directories and search directories' runs; [(run directory, MLflow run id)]."""
    todo = []
    for p in paths:
        if os.path.isfile(os.path.join(p, runs.STUDY)):
            todo += search_runs(p)
        else:
            todo.append((p, {}))
    return [(d, log_run(d, runs_root, experiment, tags, warn)) for d, tags in todo]

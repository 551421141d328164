"""Run directories: files and atomic writes, lifecycle and lock, resolved configurations and their diff, the one
metrics.csv reader, the one model loader. Imports lang only, and nn only inside the loader's functions; never
data, engine, experiments, serve, weights, compare or cli. No TensorFlow until a model is loaded.

    files      the file names, atomic writes, JSON, temporaries
    state      state.json, the lock, and `run_status` (running, or stopped without recording it)
    metrics    metrics.csv written, and read back by the one tolerant reader
    config     config.yaml, resolved configurations, and the one comparison of configurations
    lifecycle  the commit record, what a directory holds (`inspect`), resume, recover, new run directories
    loader     the one model loader: a .keras file, weights into a model, a run directory (imported by itself:
               `from inception_keras.runs import loader`)

`from inception_keras import runs` gives the public names of them all (`runs.write_state`, `runs.inspect`...).
"""
from inception_keras.runs.config import (
                                         MISSING,
                                         config_documents,
                                         differing,
                                         differing_keys,
                                         dump_config,
                                         flat_config,
                                         flatten,
                                         load_config,
                                         read_config,
                                         resolved_config,
                                         same_config,
                                         same_value,
                                         write_config,
)
from inception_keras.runs.files import (
                                         BACKUP,
                                         CHECKPOINT,
                                         CONFIG,
                                         ENV,
                                         LOCK,
                                         MAX_JSON,
                                         METRICS,
                                         MODEL,
                                         STATE,
                                         STUDY,
                                         atomic_write,
                                         check_writable,
                                         read_json,
                                         remove_temporaries,
                                         save_model,
                                         short_json,
                                         write_json,
)
from inception_keras.runs.lifecycle import (
                                         WEIGHTS_RE,
                                         Evidence,
                                         checkpoint_problem,
                                         find_finished,
                                         find_resumable,
                                         inspect,
                                         is_finished,
                                         new_run_dir,
                                         read_checkpoint,
                                         recover,
                                         remove_unstarted,
                                         require_commit,
)
from inception_keras.runs.metrics import (
                                         COLUMNS,
                                         metric_lines,
                                         metrics_csv,
                                         read_metric_rows,
                                         read_metrics,
                                         write_metrics,
)
from inception_keras.runs.state import RunLock, is_locked, read_state, remove_lock, run_status, write_state

__all__ = [
    "MISSING", "config_documents", "differing", "differing_keys", "dump_config", "flat_config", "flatten",
    "load_config", "read_config", "resolved_config", "same_config", "same_value", "write_config",
    "BACKUP", "CHECKPOINT", "CONFIG", "ENV", "LOCK", "MAX_JSON", "METRICS", "MODEL", "STATE", "STUDY", "atomic_write",
    "check_writable", "read_json", "remove_temporaries", "save_model", "short_json", "write_json",
    "WEIGHTS_RE", "Evidence", "checkpoint_problem", "find_finished", "find_resumable", "inspect", "is_finished",
    "new_run_dir", "read_checkpoint", "recover", "remove_unstarted", "require_commit",
    "COLUMNS", "metric_lines", "metrics_csv", "read_metric_rows", "read_metrics", "write_metrics",
    "RunLock", "is_locked", "read_state", "remove_lock", "run_status", "write_state",
]

"""Where a run ran: versions, devices, strategy, data and command line, for the run directory's env.json."""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time


def git_commit() -> str | None:
    """This package's git commit (`-dirty` with uncommitted changes), or None outside a git checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            # GIT_OPTIONAL_LOCKS=0: `status` only reads; it never takes the checkout's index.lock to refresh the
            # index (a trainer killed, or under a file-size limit, would leave that lock and block the user's git)
            dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5,
                                   env=dict(os.environ, GIT_OPTIONAL_LOCKS="0")).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def gpu_names() -> list[str]:
    import tensorflow as tf

    names = []
    for g in tf.config.list_physical_devices("GPU"):
        try:
            names.append(tf.config.experimental.get_device_details(g).get("device_name", g.name))
        except Exception:  # noqa: BLE001 - details are best effort
            names.append(g.name)
    return names


def environment(strategy, strategy_name, precision, jit, source, data_notes) -> dict:
    """env.json's record of this process: `strategy` as made by distribute.make_strategy, `source` as opened
    by data.sources.open_source."""
    import keras
    import numpy as np
    import tensorflow as tf

    from inception_keras.engine.distribute import devices, workers
    from inception_keras.engine.distribute import task as worker_task
    from inception_keras.engine.task import cpu_has_bf16
    from inception_keras.version import __version__

    task_type, task_id = worker_task(strategy)
    return {
        "inception_keras": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "cpu_bf16": cpu_has_bf16(),
        "gpus": gpu_names(),
        "devices": devices(strategy),
        "strategy": strategy_name,
        "strategy_class": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "workers": workers(strategy),
        "task": f"{task_type}:{task_id}",
        "precision": precision,
        "jit_compile": jit,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "data_source": source.description,
        "data_notes": data_notes,
        "train_examples": source.train.count,
        "validation_examples": source.val.count,
        "command": sys.argv,
        "cwd": os.getcwd(),
        "git_commit": git_commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

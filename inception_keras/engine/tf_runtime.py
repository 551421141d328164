"""The one place TensorFlow is prepared: settings that must precede its import, then the import itself.
Every command that needs TensorFlow calls `prepare_tensorflow()` before importing anything that imports it."""
from __future__ import annotations

import contextlib
import os
import sys


def prepare_tensorflow() -> None:
    """Settings that must precede TensorFlow's import, then the import itself, quietly.

    - oneDNN: TensorFlow enables its oneDNN CPU kernels by default only on CPUs with AVX512-VNNI/BF16 or
      AMX; elsewhere (this project's AVX2 machines) its own kernels train the seed network about 1.4x
      slower (docs/performance.md). Set TF_ENABLE_ONEDNN_OPTS=0 to keep TensorFlow's choice.
    - TensorFlow's C++ start-up chatter (CUDA probing on machines without GPUs) is not for users.
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    with contextlib.ExitStack() as stack:
        try:
            saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
        except OSError:
            saved = None
        if saved is not None:
            sys.stderr.flush()
            os.dup2(devnull, 2)
            os.close(devnull)

            def restore():
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)

            stack.callback(restore)
        import tensorflow  # noqa: F401

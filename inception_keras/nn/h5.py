"""Writing a model's `.weights.h5` so that a failed write is an error, not a crash.

HDF5's file writer crashes the process (a segmentation fault, exit 139) when a write fails under it: a full disk
(ENOSPC) or a file-size limit (RLIMIT_FSIZE: EFBIG, since Python ignores SIGXFSZ). So the file is built in memory
(Keras' H5IOStore takes an io.BytesIO; `_save_state` is the body of Keras' own `save_weights_only`) and written
with `safeio.write_file`, whose os.write raises OSError. The bytes are those `model.save_weights` writes, and
`model.load_weights` reads them back. A Keras without these internals saves with its own writer.
"""
from __future__ import annotations

import io

from inception_keras import safeio


def weights_bytes(model) -> bytes:
    """The `.weights.h5` file of `model`, built in memory."""
    from keras.src.saving import saving_lib

    buffer = io.BytesIO()
    store = saving_lib.H5IOStore(buffer, mode="w")
    saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set())
    store.close()
    return buffer.getvalue()


def save_weights(model, path: str) -> None:
    """Write `model`'s weights to the new file `path` (a `.weights.h5`; O_EXCL, never through a link): a full disk
    or a file-size limit is an OSError, never a crash."""
    try:
        data = weights_bytes(model)
    except (ImportError, AttributeError):  # another Keras' internals: its own writer
        model.save_weights(path)
        return
    safeio.write_file(path, data)

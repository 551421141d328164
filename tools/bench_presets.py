#!/usr/bin/env python3
"""Time a preset's first (download + convert) and second (cached) resolve, and the model built with it, from a
local HTTP server: keras.applications' InceptionV3 with seeded weights at its default 299 px, written by Keras'
legacy h5 writer at the publisher's path, served on 127.0.0.1, fetched through INCEPTION_KERAS_MIRROR with a
preset that carries the served file's MD5 (the publisher's MD5 belongs to the publisher's file).

    nice -n 10 python tools/bench_presets.py [--size 299]
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import json
import os
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=299)
    args = p.parse_args()
    import h5py
    import keras
    import numpy as np
    from keras.src.legacy.saving import legacy_h5_format

    from inception_keras.zoo import cache
    from inception_keras.zoo.cache import resolve_weights
    from inception_keras.zoo.presets import PRESETS, Preset, find_preset

    tmp = tempfile.mkdtemp()
    real = find_preset("inception_v3_imagenet", "imagenet")
    path = "/".join(real.url.split("/")[3:])
    served = os.path.join(tmp, "served", path)
    os.makedirs(os.path.dirname(served))
    ref = keras.applications.InceptionV3(weights=None, input_shape=(args.size, args.size, 3))
    rng = np.random.default_rng(0)
    for w in ref.weights:
        w.assign((rng.normal(0, 0.05, tuple(w.shape)) + (1 if "variance" in w.path else 0)).astype("float32"))
    with h5py.File(served, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, ref)
    md5 = hashlib.md5(open(served, "rb").read()).hexdigest()
    arch = os.path.join(tmp, "inception_v3_imagenet.yaml")
    with open(arch, "w") as f:
        f.write(f"extends: {os.path.join(ROOT, 'arch', 'inception_v3_imagenet.yaml')}\n"
                f"input: [{args.size}, {args.size}, 3]\n")
    PRESETS[arch] = (Preset("seeded", real.publisher, real.url, md5, "md5", "keras"),)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    handler = functools.partial(Quiet, directory=os.path.join(tmp, "served"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ[cache.MIRROR_ENV] = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ[cache.CACHE_ENV] = os.path.join(tmp, "cache")
    times = {}
    start = time.perf_counter()
    resolve_weights(arch, "seeded")
    times["first resolve (download + convert) s"] = time.perf_counter() - start
    server.shutdown()
    server.server_close()
    start = time.perf_counter()
    out = resolve_weights(arch, "seeded")
    times["second resolve (cached, server stopped) s"] = time.perf_counter() - start
    start = time.perf_counter()
    cache.build_with_weights(arch, "seeded")
    times["build + load weights (cached) s"] = time.perf_counter() - start
    print(json.dumps({"size": args.size, "file MB": round(os.path.getsize(served) / 1e6, 1),
                      "converted MB": round(os.path.getsize(out) / 1e6, 1),
                      **{k: round(v, 3) for k, v in times.items()}}))


if __name__ == "__main__":
    main()

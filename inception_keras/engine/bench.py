"""`inception-keras bench`: training throughput of an architecture, on synthetic data held in memory and
through the real input pipeline.

One `model.fit` runs warm-up steps and then several timed windows of `--steps` steps; a callback stamps
the end of every step, and the median window gives images/s and milliseconds per step. Speed is compared as
ratios measured in the same sitting (docs/performance.md), never asserted by tests.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time

from inception_keras import writing
from inception_keras.errors import ConfigError


def _device() -> tuple[str, bool]:
    """(description, has_gpu) for the backend in use."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
            return f"{len(gpus)} GPU(s): {', '.join(names)}", True
    elif backend == "jax":
        import jax

        devices = jax.devices()
        if devices[0].platform == "gpu":
            return f"{len(devices)} GPU(s): {devices[0].device_kind}", True
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.device_count()} GPU(s): {torch.cuda.get_device_name()}", True
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"CPU: {cpu}, {os.cpu_count()} cores", False


def _gpu_peak_bytes() -> int | None:
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        elif backend == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None
        elif backend == "torch":
            import torch

            return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - memory statistics are best effort
        return None
    return None


def _synthetic(input_shape, classes, batch, outputs, one_hot=False):
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((4 * batch, *input_shape), dtype=np.float32)
    y = rng.integers(0, classes, 4 * batch).astype("int32")
    if one_hot:  # label smoothing: the loss takes one-hot labels
        y = np.eye(classes, dtype=np.float32)[y]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        labels = {name: y for name in outputs} if len(outputs) > 1 else y
        return tf.data.Dataset.from_tensor_slices((x, labels)).batch(batch).cache().repeat()
    return x, y


def _timed_fit(model, data, total_steps: int, batch: int, spe: int) -> list[float]:
    """Stamps (perf_counter) at the end of each step; `data` is a repeating dataset or in-memory arrays."""
    import keras
    import numpy as np

    stamps: dict[int, float] = {}

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, index, logs=None):
            stamps[index] = time.perf_counter()

    if isinstance(data, tuple):  # other backends: arrays, repeated to cover every step
        x, y = data
        reps = -(-total_steps * batch // len(x))
        outputs = model.output if isinstance(model.output, dict) else None
        y_all = np.tile(y, (reps,) + (1,) * (y.ndim - 1))
        labels = {k: y_all for k in outputs} if outputs else y_all
        model.fit(np.tile(x, (reps, 1, 1, 1)), labels, batch_size=batch, epochs=1, steps_per_epoch=total_steps,
                  shuffle=False, verbose=0, callbacks=[Clock()])
    else:
        model.fit(data, epochs=1, steps_per_epoch=total_steps, verbose=0, callbacks=[Clock()], shuffle=False)
    # with steps_per_execution > 1 Keras reports once per execution (every `spe` steps)
    return [stamps[i] for i in sorted(stamps)]


def cpu_ticks() -> tuple[int, int] | None:
    """(steal, total) jiffies from /proc/stat: on a virtual machine the host may take the CPU away (steal)."""
    try:
        with open("/proc/stat", encoding="utf-8") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return fields[7] if len(fields) > 7 else 0, sum(fields[:8])
    except (OSError, ValueError):
        return None


def steal_share(before, after) -> float | None:
    if not before or not after or after[1] == before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 4)


def measure(model, data, batch: int, steps: int, windows: int, warmup: int, spe: int) -> dict:
    if steps % spe or warmup % spe:
        raise ConfigError(f"--steps ({steps}) and --warmup ({warmup}) must be multiples of --steps-per-execution "
                          f"({spe})")
    total = warmup + windows * steps
    before = cpu_ticks()
    stamps = _timed_fit(model, data, total, batch, spe)
    steal = steal_share(before, cpu_ticks())
    per_exec = steps // spe
    first = warmup // spe - 1
    durations = [stamps[first + (k + 1) * per_exec] - stamps[first + k * per_exec] for k in range(windows)]
    median = statistics.median(durations)
    return {"images_per_second": round(batch * steps / median, 2), "ms_per_step": round(1000 * median / steps, 2),
            "window_images_per_second": [round(batch * steps / d, 2) for d in durations], "cpu_steal": steal}


def measure_pipeline(data, batch: int, images: int) -> dict:
    """The input pipeline alone, no model: images/s, and images per CPU-second of this process (user + system
    time of every tf.data thread), which is images/s per core when the pipeline has the cores it wants.

    `data` is one epoch; the clock runs from the iterator's creation, so that images decoded ahead into a
    shuffle buffer are paid for, over the whole epoch or `images` images, whichever is fewer (a window much
    longer than the shuffle buffer, or the epoch itself, counts every image's work once).
    """
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    done = 0
    for x, _ in data:
        done += int(x.shape[0])
        if done >= images:
            break
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"pipeline_images": done, "pipeline_images_per_second": round(done / wall, 1),
            "pipeline_images_per_cpu_second": round(done / cpu, 1) if cpu > 0 else None,
            "pipeline_cpu_cores_used": round(cpu / wall, 2), "cpu_cores": cores}


def run(arch: str, recipe_path: str, batch: int, precision: str, data: str, steps: int, windows: int, warmup: int,
        jit: str = "auto", steps_per_execution: int = 1, data_dir: str | None = None, sets=()) -> dict:
    import dataclasses

    import keras

    from inception_keras.engine.task import compile_model, resolve_precision
    from inception_keras.lang.resolve import resolve
    from inception_keras.nn.builder import build_models

    spec, recipe, _ = resolve(arch, recipe_path, sets)
    recipe = dataclasses.replace(recipe, batch_size=batch, steps_per_execution=steps_per_execution)
    backend = keras.backend.backend()
    if data != "synthetic" and backend != "tensorflow":
        raise ConfigError(f"--data {data} needs the TensorFlow backend (tf.data); KERAS_BACKEND is {backend}")
    if precision == "auto":
        precision = resolve_precision(precision) if backend == "tensorflow" else (
            "mixed_float16" if _device()[1] else "float32")
    keras.mixed_precision.set_global_policy(precision)
    device, has_gpu = _device()
    use_jit = has_gpu if jit == "auto" else jit == "on"
    keras.utils.set_random_seed(0)
    models = build_models(spec)
    outputs = tuple(models.loss_weights)
    compile_model(models, recipe, 100, use_jit if backend == "tensorflow" else "auto")
    results = [_measure_data(kind, models.train, spec, recipe, outputs, data_dir, steps, windows, warmup)
               for kind in (["synthetic", "real"] if data == "both" else [data])]
    gpu_peak = _gpu_peak_bytes()
    out = {
        "arch": spec.name, "arch_file": arch, "params": models.train.count_params(), "batch": batch,
        "precision": precision, "jit_compile": bool(use_jit) if backend == "tensorflow" else "auto",
        "steps_per_execution": steps_per_execution, "backend": backend, "keras": keras.__version__,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "device": device, "steps": steps, "windows": windows, "warmup": warmup,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "gpu_peak_bytes": gpu_peak, "results": results,
        "images_per_second": results[0]["images_per_second"],
    }
    if backend == "tensorflow":
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    if len(results) == 2:
        out["real_over_synthetic"] = round(results[1]["images_per_second"] / results[0]["images_per_second"], 3)
    return out


def _measure_data(kind: str, model, spec, recipe, outputs: tuple, data_dir: str | None, steps: int, windows: int,
                  warmup: int) -> dict:
    """The training steps' figures on one kind of data (synthetic or real), and for real data the input pipeline's
    own throughput."""
    batch = recipe.batch_size
    source, what, epoch, buffer = _training_data(kind, spec, recipe, batch, outputs, data_dir)
    # the pipeline alone: at least the timed steps' images and four shuffle buffers, at most an epoch
    alone = (measure_pipeline(epoch, batch, max(batch * (warmup + windows * steps), 4 * buffer))
             if kind == "real" else {})
    figures = measure(model, source, batch, steps, windows, warmup, recipe.steps_per_execution)
    augmented = ", ".join(recipe.augment.names) if recipe.augment and kind == "real" else ""
    figures.update(data=kind, source=what, augment=augmented, **alone)
    return figures


def _training_data(kind: str, spec, recipe, batch: int, outputs: tuple, data_dir: str | None):
    """(data for `fit`, what it is, one epoch of it, the images a shuffle buffer holds decoded): random images in
    memory, or the recipe's training pipeline, repeated."""
    import dataclasses

    if kind == "synthetic":
        return (_synthetic(spec.input, spec.classes, batch, outputs, recipe.label_smoothing > 0),
                "random images held in memory", None, 0)
    from inception_keras.data.pipeline import Pipeline
    from inception_keras.data.sources import open_source

    ds = recipe.dataset if not data_dir else dataclasses.replace(recipe.dataset, path=data_dir)
    src = open_source(ds, spec.classes)
    source = Pipeline.from_recipe(dataclasses.replace(recipe, dataset=ds), src, spec.input, training=True,
                                  batch=batch, seed=0, outputs=outputs, classes=spec.classes,
                                  sample_weights=False).epoch(None)
    decoded_ahead = 0 if src.train.images is not None else min(ds.shuffle_buffer, src.train.count)
    return source.repeat(), f"the training pipeline: {src.description}", source, decoded_ahead


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _on(flag) -> str:
    return {True: "on", False: "off"}.get(flag, str(flag))


def render(out: dict) -> str:
    gib = 1 << 30
    lines = [f"inception-keras bench: {out['arch']} ({out['arch_file']}), {out['params']:,} parameters, batch "
             f"{out['batch']}, {out['precision']}, XLA {_on(out['jit_compile'])}, steps/execution "
             f"{out['steps_per_execution']}",
             f"device: {out['device']}; Keras {out['keras']} ({out['backend']}), TF_ENABLE_ONEDNN_OPTS="
             f"{out.get('onednn')}",
             f"median of {_count(out['windows'], 'window')} of {_count(out['steps'], 'step')} after "
             f"{_count(out['warmup'], 'warm-up step')}",
             "", f"{'data':<10} {'images/s':>9} {'ms/step':>9}  windows (images/s)"]
    for r in out["results"]:
        lines.append(f"{r['data']:<10} {r['images_per_second']:>9.1f} {r['ms_per_step']:>9.1f}  "
                     + ", ".join(f"{v:.1f}" for v in r["window_images_per_second"]))
    steals = [r["cpu_steal"] for r in out["results"] if r.get("cpu_steal") is not None]
    lines.append("")
    if steals:
        lines.append("CPU steal while timing (share of CPU time the host took away): "
                     + ", ".join(f"{100 * v:.1f}%" for v in steals))
    lines.append(f"peak memory: RSS {out['peak_rss_bytes'] / gib:.2f} GiB"
                 + (f", GPU {out['gpu_peak_bytes'] / gib:.2f} GiB" if out.get("gpu_peak_bytes") else ""))
    if "real_over_synthetic" in out:
        lines.append(f"real / synthetic: {out['real_over_synthetic']:.3f}")
    for r in out["results"]:
        if r.get("augment"):
            lines.append(f"augmentation ({r['data']} data): {r['augment']}")
        if r.get("pipeline_images_per_second"):
            per_core = r.get("pipeline_images_per_cpu_second")
            lines.append(f"input pipeline alone ({r['pipeline_images']:,} images): "
                         f"{r['pipeline_images_per_second']:.1f} images/s using "
                         f"{r['pipeline_cpu_cores_used']:.2f} of {r['cpu_cores']} cores"
                         + (f"; {per_core:.1f} images/s per core (images per CPU-second)" if per_core else ""))
    return "\n".join(lines)


def write_json(out: dict, path: str) -> None:
    """The figures of `run` as JSON (`bench --json FILE`), for tools/bench_table.py and later comparison."""
    writing.write_new(path, json.dumps(out, indent=2) + "\n", writing.JSON)

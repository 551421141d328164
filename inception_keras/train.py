"""`inception-keras train`: recipe + architecture -> a run directory (see runs.py)."""
from __future__ import annotations

import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from . import runs
from .errors import ConfigError, Interrupted, TrainingError, raise_interrupted
from .overrides import load, parse_sets
from .recipe import Recipe, load_recipe, parse_recipe
from .schema import Document
from .spec import ArchSpec, parse_arch


@dataclass
class Plan:
    """Everything decided before TensorFlow starts: the configuration and where the run goes."""

    spec: ArchSpec
    recipe: Recipe
    config: dict
    run_dir: str
    resuming: bool


# ----------------------------------------------------------------------------- configuration


def resolve(arch_path: str, recipe_path: str, sets=(), limit=None, data_dir=None, strategy=None):
    """Load both files, apply `--set`s and flags; return (spec, recipe, config)."""
    pairs = parse_sets(list(sets))
    arch_sets = [(k[len("arch."):], v) for k, v in pairs if k.startswith("arch.")]
    recipe_sets = [(k, v) for k, v in pairs if not k.startswith("arch.")]
    if limit is not None:
        recipe_sets.append(("dataset.limit", limit))
    if data_dir is not None:
        recipe_sets.append(("dataset.path", data_dir))
    if strategy is not None:
        recipe_sets.append(("strategy", strategy))
    recipe = load_recipe(recipe_path, sets=recipe_sets)
    if recipe.initializer:
        arch_sets.insert(0, ("defaults.initializer", recipe.initializer))
    arch_doc = load(arch_path, sets=arch_sets, what="architecture file")
    spec = parse_arch(arch_doc)
    return spec, recipe, {"arch": arch_doc.data, "recipe": recipe.to_dict()}


def from_config(run_dir: str):
    cfg = runs.read_config(run_dir)
    if cfg is None:
        raise ConfigError(f"{run_dir}: not a run directory (no {runs.CONFIG})")
    where = os.path.join(run_dir, runs.CONFIG)
    spec = parse_arch(Document(f"{where} (arch)", cfg.get("arch")))
    recipe = parse_recipe(Document(f"{where} (recipe)", cfg.get("recipe")))
    return spec, recipe, cfg


def plan(arch_path, recipe_path, run_dir=None, resume=None, sets=(), limit=None, data_dir=None, strategy=None,
         runs_root="runs", multi_worker=False) -> Plan:
    if resume:
        if sets or limit is not None or data_dir is not None or strategy is not None:
            raise ConfigError("--resume continues a run with its own configuration: drop --set, --limit, --data-dir "
                              "and --strategy (or start a new run)")
        spec, recipe, config = from_config(resume)
        if runs.is_finished(resume):
            raise ConfigError(f"{resume}: this run is finished; it is never overwritten (start a new run)")
        return Plan(spec, recipe, config, resume, True)
    spec, recipe, config = resolve(arch_path, recipe_path, sets, limit, data_dir, strategy)
    prefix = f"{spec.name}-{recipe.name}"
    if run_dir:
        existing = runs.read_config(run_dir) if os.path.isdir(run_dir) else None
        if existing is None:
            if os.path.isdir(run_dir) and os.path.exists(os.path.join(run_dir, runs.METRICS)):
                raise ConfigError(f"{run_dir}: holds metrics.csv but no {runs.CONFIG}; not overwriting it")
            return Plan(spec, recipe, config, run_dir, False)
        if runs.is_finished(run_dir):
            raise ConfigError(f"{run_dir}: holds a finished run; it is never overwritten (choose another --run-dir)")
        if not runs.same_config(existing, config):
            keys = ", ".join(runs.differing_keys(existing, yaml_round(config)))
            raise ConfigError(f"{run_dir}: holds an unfinished run with a different configuration ({keys}); "
                              f"resume it with --resume {run_dir} or choose another --run-dir")
        return Plan(spec, recipe, config, run_dir, True)
    if multi_worker:
        raise ConfigError("multi-worker training needs --run-dir: every worker must name the same run directory "
                          "(on storage they share)")
    found = runs.find_resumable(runs_root, prefix, config)
    if found:
        return Plan(spec, recipe, config, found, True)
    return Plan(spec, recipe, config, runs.new_run_dir(runs_root, prefix), False)


def yaml_round(config: dict) -> dict:
    import yaml

    return yaml.safe_load(runs.dump_config(config))


# ----------------------------------------------------------------------------- environment


def resolve_precision(precision: str) -> str:
    if precision != "auto":
        return precision
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        cc = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability") or (0, 0)
        return "mixed_float16" if tuple(cc) >= (7, 0) else "float32"
    return "mixed_bfloat16" if cpu_has_bf16() else "float32"


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """AMX-BF16 or AVX512-BF16: bfloat16 matrix math in hardware (mixed_bfloat16 pays off)."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def git_commit() -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def environment(strategy, strategy_name, precision, jit, source, data_notes) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from . import __version__
    from .distribute import devices, task, workers

    gpus = tf.config.list_physical_devices("GPU")
    gpu_names = []
    for g in gpus:
        try:
            gpu_names.append(tf.config.experimental.get_device_details(g).get("device_name", g.name))
        except Exception:  # noqa: BLE001 - details are best effort
            gpu_names.append(g.name)
    replicas = strategy.num_replicas_in_sync
    task_type, task_id = task(strategy)
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
        "gpus": gpu_names,
        "devices": devices(strategy),
        "strategy": strategy_name,
        "strategy_class": type(strategy).__name__,
        "replicas": replicas,
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


# ----------------------------------------------------------------------------- Keras pieces


def make_optimizer(recipe: Recipe, steps_per_epoch: int):
    import keras

    o, s = recipe.optimizer, recipe.schedule
    lr = o.learning_rate
    total = max(1, recipe.epochs * steps_per_epoch)
    if s.name == "step":
        lr = keras.optimizers.schedules.ExponentialDecay(o.learning_rate, max(1, round(s.every_epochs * steps_per_epoch)),
                                                         s.factor, staircase=True)
    elif s.name == "cosine":
        warm = int(round(s.warmup_epochs * steps_per_epoch))
        if warm:
            lr = keras.optimizers.schedules.CosineDecay(0.0, max(1, total - warm), alpha=s.min_factor,
                                                        warmup_target=o.learning_rate, warmup_steps=warm)
        else:
            lr = keras.optimizers.schedules.CosineDecay(o.learning_rate, total, alpha=s.min_factor)
    common = dict(learning_rate=lr, clipnorm=o.clipnorm)
    if o.weight_decay:
        common["weight_decay"] = o.weight_decay
    if o.name == "sgd":
        return keras.optimizers.SGD(momentum=o.momentum, nesterov=o.nesterov, **common)
    if o.name == "adam":
        return keras.optimizers.Adam(**common)
    if o.name == "adamw":
        common.setdefault("weight_decay", 0.0)
        return keras.optimizers.AdamW(**common)
    return keras.optimizers.RMSprop(momentum=o.momentum, **common)


def compile_model(models, recipe: Recipe, steps_per_epoch: int, jit) -> None:
    import keras

    one_hot = recipe.label_smoothing > 0
    if one_hot:
        loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe.label_smoothing)
        metric = keras.metrics.CategoricalAccuracy(name="accuracy")
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    optimizer = make_optimizer(recipe, steps_per_epoch)
    if models.has_aux:
        models.train.compile(optimizer=optimizer, loss={k: loss for k in models.loss_weights},
                             loss_weights=dict(models.loss_weights), metrics={"logits": [metric]},
                             steps_per_execution=recipe.steps_per_execution, jit_compile=jit)
    else:
        models.train.compile(optimizer=optimizer, loss=loss, metrics=[metric],
                             steps_per_execution=recipe.steps_per_execution, jit_compile=jit)


def metrics_row(epoch: int, logs: dict, lr: float, seconds: float, train_seconds: float, images: int) -> dict:
    """Keras' logs -> one CSV row.

    The standard columns always describe the main head, so runs with and without auxiliary heads compare
    (and `val_loss` equals what `evaluate` reports). With auxiliary heads Keras logs `loss` (the weighted
    training objective), `logits_loss`, `logits_accuracy` and `aux1_loss`: they become `total_loss`, `loss`,
    `accuracy` and `aux1_loss` (and the same with `val_`).
    """
    row: dict = {"epoch": epoch + 1}
    aux = "logits_loss" in logs or "val_logits_loss" in logs
    extra: dict = {}
    for prefix in ("", "val_"):
        for key in sorted(k[len(prefix):] for k in logs if k.startswith(prefix) and (prefix or not
                                                                                   k.startswith("val_"))):
            value = float(logs[prefix + key])
            if not aux:
                row[prefix + key] = value
            elif key == "loss":
                extra[prefix + "total_loss"] = value
            elif key == "logits_loss":
                row[prefix + "loss"] = value
            elif key == "logits_accuracy":
                row[prefix + "accuracy"] = value
            else:
                extra[prefix + key] = value
    row["learning_rate"] = lr
    row["epoch_seconds"] = round(seconds, 3)
    row["images_per_second"] = round(images / train_seconds, 2) if train_seconds > 0 else None
    names = sorted({k.removeprefix("val_") for k in extra}, key=lambda k: (k != "total_loss", k))
    for name in names:
        for key in (name, "val_" + name):
            if key in extra:
                row[key] = extra[key]
    return row


def _format_row(row: dict, epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}:"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if row.get(key) is not None:
            parts.append(f"{key} {row[key]:.4f}")
    parts.append(f"lr {row['learning_rate']:.4g}")
    parts.append(f"{row['epoch_seconds']:.1f} s")
    if row.get("images_per_second"):
        parts.append(f"{row['images_per_second']:.1f} images/s")
    return " ".join(parts)


def make_backup_callback(run_dir: str, chief: bool, worker_tmp: str, history: list, epochs: int, train_images: int,
                         log):
    import keras

    class Backup(keras.callbacks.Callback):
        """Per epoch: weights + optimizer to backup/, then the commit (checkpoint.json), then metrics.csv."""

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()
            self.t_train = None

        def on_test_begin(self, logs=None):
            if self.t_train is None:
                self.t_train = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            train_seconds = (self.t_train or now) - self.t0
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            row = metrics_row(epoch, logs or {}, lr, now - self.t0, train_seconds, train_images)
            name = f"epoch-{epoch + 1:04d}.weights.h5"
            where = os.path.join(run_dir, runs.BACKUP) if chief else worker_tmp
            os.makedirs(where, exist_ok=True)
            tmp = os.path.join(where, f"epoch-{epoch + 1:04d}.tmp.weights.h5")
            self.model.save_weights(tmp, overwrite=True)
            os.replace(tmp, os.path.join(where, name))
            ckpt = {"epoch": epoch + 1, "weights": name, "history": history + [row]}
            runs.atomic_write(os.path.join(where, runs.CHECKPOINT), _json(ckpt))  # the commit point
            history.append(row)
            for old in os.listdir(where):
                if old.endswith(".weights.h5") and old != name:
                    os.remove(os.path.join(where, old))
            if chief:
                runs.write_metrics(run_dir, history)
                runs.write_state(run_dir, status="running", epochs_done=epoch + 1, epochs=epochs)
                log(_format_row(row, epochs))

    return Backup()


def _build_for_multi_worker(model, dataset, strategy) -> None:
    """Keras 3's `fit` is broken under MultiWorkerMirroredStrategy (keras-team/keras#20585, two places):

    1. before its first step it averages a distributed input batch with an eager cross-worker reduce, which
       fails; that batch only serves to build the compiled state from shapes, so build it here from the
       dataset's element spec and skip Keras' own attempt;
    2. each step averages its (scalar) logs across workers with `strategy.reduce("MEAN", v, axis=0)`, which
       fails on scalars; reduce scalars with axis=None instead (`_patch_keras_multi_worker_reduce`).
    """
    _patch_keras_multi_worker_reduce()
    with strategy.scope():
        model._symbolic_build(data_batch=dataset.element_spec)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def _patch_keras_multi_worker_reduce() -> None:
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as keras_tf_trainer

    original = keras_tf_trainer.reduce_per_replica
    if getattr(original, "inception_keras_patch", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and keras_tf_trainer._collective_all_reduce_multi_worker(strategy):
            def mean(v):
                local = strategy.experimental_local_results(v)[0] if hasattr(v, "values") else v
                return strategy.reduce("MEAN", v, axis=0 if local.shape.rank else None)

            return tree.map_structure(mean, values)
        return original(values, strategy, reduction)

    reduce_per_replica.inception_keras_patch = True
    keras_tf_trainer.reduce_per_replica = reduce_per_replica


def make_progress_callback(epochs: int, steps: int, batch: int, log, every: float = 60.0):
    """Progress for logs that are not terminals (nohup, docker logs, Kubernetes): a line every `every` seconds
    with the batch, the running loss, images/s and the time left in the epoch."""
    import keras

    class Progress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.t0, self.last = epoch, time.perf_counter(), time.perf_counter()

        def on_train_batch_end(self, batch_index, logs=None):
            now = time.perf_counter()
            if now - self.last < every:
                return
            self.last = now
            done = batch_index + 1
            rate = done * batch / (now - self.t0)
            left = (steps - done) * batch / rate if rate else 0
            loss = (logs or {}).get("loss")
            log(f"  epoch {self.epoch + 1}/{epochs}: batch {done}/{steps} ({100 * done / steps:.0f}%)"
                + (f", loss {float(loss):.4f}" if loss is not None else "")
                + f", {rate:.1f} images/s, {left / 60:.1f} min left in the epoch")

    return Progress()


def _json(obj) -> str:
    import json

    return json.dumps(obj, indent=1) + "\n"


# ----------------------------------------------------------------------------- the run


def train(arch_path="arch/googlenet.yaml", recipe_path="train/fashion_mnist.yaml", run_dir=None, resume=None,
          sets=(), limit=None, data_dir=None, strategy=None, runs_root="runs", verbose=None, log=None) -> str:
    """Train; return the run directory. Raises ConfigError (bad input) or TrainingError (a failed run).

    SIGTERM (docker stop, Kubernetes) and SIGINT stop the run with `Interrupted`: the last completed epoch
    is kept and the same command resumes it.
    """
    if log is None:
        def log(*parts):
            print(*parts, flush=True)

    previous = {s: signal.signal(s, raise_interrupted) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _train(arch_path, recipe_path, run_dir, resume, sets, limit, data_dir, strategy, runs_root, verbose,
                      log)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _train(arch_path, recipe_path, run_dir, resume, sets, limit, data_dir, strategy, runs_root, verbose, log):
    from .distribute import tf_config

    p = plan(arch_path, recipe_path, run_dir, resume, sets, limit, data_dir, strategy, runs_root,
             multi_worker=bool(tf_config()) and (strategy or "auto") in ("auto", "multi_worker_mirrored"))
    recipe = p.recipe

    # The strategy comes first: multi-worker collectives must be set up before TensorFlow initializes.
    from .distribute import is_chief, make_strategy, task

    strat, strategy_name = make_strategy(recipe.strategy, recipe.cpu_devices)
    chief = is_chief(strat)
    task_type, task_id = task(strat)
    if chief:
        if runs.is_finished(p.run_dir):
            raise ConfigError(f"{p.run_dir}: holds a finished run; it is never overwritten")
        runs.check_writable(p.run_dir)
    worker_tmp = os.path.join(p.run_dir, runs.BACKUP, f".{task_type}-{task_id}-tmp")
    if not chief:
        os.makedirs(worker_tmp, exist_ok=True)
    lock_dir = p.run_dir if chief else worker_tmp
    with runs.RunLock(lock_dir):
        return _train_locked(p, strat, strategy_name, chief, worker_tmp, verbose, log)


def _train_locked(p: Plan, strat, strategy_name, chief, worker_tmp, verbose, log) -> str:
    import keras
    import tensorflow as tf

    from . import data as D
    from .builder import build_models
    from .distribute import devices

    recipe, spec, run_dir = p.recipe, p.spec, p.run_dir
    if not chief:
        log = lambda *a, **k: None  # noqa: E731 - workers other than the chief stay quiet
    ckpt = runs.read_checkpoint(run_dir)
    start_epoch = ckpt["epoch"] if ckpt else 0
    history = list(ckpt["history"])[:start_epoch] if ckpt else []
    if chief:
        log(f"run directory: {run_dir}" + (f" (resuming after epoch {start_epoch})" if ckpt else
                                           " (resuming)" if p.resuming else ""))
    log(f"strategy: {strategy_name} ({type(strat).__name__}), {strat.num_replicas_in_sync} replica(s), "
        f"devices: {', '.join(devices(strat))}")
    if recipe.batch_size % strat.num_replicas_in_sync:
        raise ConfigError(f"batch_size {recipe.batch_size} does not split evenly across "
                          f"{strat.num_replicas_in_sync} replicas")

    precision = resolve_precision(recipe.precision)
    keras.mixed_precision.set_global_policy(precision)
    jit = bool(tf.config.list_physical_devices("GPU")) if recipe.jit_compile == "auto" else recipe.jit_compile
    keras.utils.set_random_seed(recipe.seed)

    source = D.open_source(recipe.dataset, spec.classes)
    notes = [n for n in [D.channel_note(source.channels, spec.input[2])] if n]
    log(f"data: {source.description}: {source.train.count:,} training, {source.val.count:,} validation examples, "
        f"resized to {'x'.join(map(str, spec.input))}" + "".join(f"; {n}" for n in notes))
    for note in spec.adaptations:
        log(f"adapted: {note}")

    with strat.scope():
        models = build_models(spec)
    outputs = tuple(models.loss_weights)
    kw = dict(input_shape=spec.input, batch=recipe.batch_size, seed=recipe.seed, outputs=outputs,
              num_classes=spec.classes, one_hot=recipe.label_smoothing > 0, resize=recipe.dataset.resize,
              shuffle_buffer=recipe.dataset.shuffle_buffer, cache=recipe.dataset.cache,
              stored_channels=source.channels)
    train_ds = D.pipeline(source.train, training=True, **kw)
    val_ds = D.pipeline(source.val, training=False, **kw)
    steps = math.ceil(source.train.count / recipe.batch_size)
    with strat.scope():
        compile_model(models, recipe, steps, jit)
        models.train.optimizer.build(models.train.trainable_variables)
    if isinstance(strat, tf.distribute.MultiWorkerMirroredStrategy):
        _build_for_multi_worker(models.train, train_ds, strat)
    if ckpt:
        models.train.load_weights(os.path.join(run_dir, runs.BACKUP, ckpt["weights"]))
        log(f"restored epoch {start_epoch} from {run_dir}/{runs.BACKUP}/{ckpt['weights']}")
    log(f"model: {spec.name}, {models.train.count_params():,} parameters; precision {precision}; "
        f"XLA {'on' if jit else 'off'}; batch {recipe.batch_size} global; {recipe.epochs} epochs")

    if chief:
        cfg = runs.read_config(run_dir)
        if cfg is None:
            runs.write_config(run_dir, p.config)
        env = environment(strat, strategy_name, precision, jit, source, notes)
        old = runs.read_json(os.path.join(run_dir, runs.ENV))
        if old:
            env["previous_sessions"] = old.pop("previous_sessions", []) + [old]
        env["resumed_from_epoch"] = start_epoch
        runs.atomic_write(os.path.join(run_dir, runs.ENV), _json(env))
        runs.write_metrics(run_dir, history)
        runs.write_state(run_dir, status="running", epochs_done=start_epoch, epochs=recipe.epochs,
                         arch=spec.name, recipe=recipe.name, params=models.inference.count_params(),
                         pid=os.getpid(), host=socket.gethostname())

    callbacks = [keras.callbacks.TerminateOnNaN(raise_error=True),
                 make_backup_callback(run_dir, chief, worker_tmp, history, recipe.epochs, source.train.count, log)]
    if verbose is None:
        verbose = 1 if (chief and sys.stdout.isatty()) else 0
    if chief and verbose == 0:
        callbacks.append(make_progress_callback(recipe.epochs, steps, recipe.batch_size, log))

    status = "failed"
    try:
        if start_epoch < recipe.epochs:
            models.train.fit(train_ds, validation_data=val_ds, epochs=recipe.epochs, initial_epoch=start_epoch,
                             callbacks=callbacks, verbose=verbose, shuffle=False)
        if chief:
            models.inference.save(os.path.join(run_dir, runs.MODEL))
        status = "finished"
    except Interrupted as e:
        status = "interrupted"
        log(f"{e}: stopped; {len(history)} epoch(s) kept; run the same command again (or --resume {run_dir}) "
            f"to continue")
        raise
    except RuntimeError as e:
        if "nan" in str(e).lower() or "inf" in str(e).lower():
            if chief:
                runs.write_state(run_dir, status="failed", error=str(e))
            raise TrainingError(f"the loss became NaN or infinite in epoch {len(history) + 1}; training stopped. The "
                                f"last good backup (epoch {len(history)}) is kept in {run_dir}/{runs.BACKUP}. "
                                f"Lower the learning rate or check the data, then start a new run.") from None
        raise
    except tf.errors.InvalidArgumentError as e:
        raise TrainingError(f"training failed on the input data: {e.message.splitlines()[0]}") from None
    finally:
        if chief:
            fields = {"status": status}
            if status == "finished":
                fields["epochs_done"] = recipe.epochs
            runs.write_state(run_dir, **fields)
    if chief:
        last = history[-1] if history else {}
        log(f"finished: {run_dir} (val_accuracy {last.get('val_accuracy', float('nan')):.4f})")
    return run_dir

"""What is trained and how it is scored: precision, optimizer and schedule, loss, metric, `compile`.

Shared by `train`, `bench` and tools/gpu_check.py, so that all of them measure the same compiled model.
"""
from __future__ import annotations

from inception_keras.lang.recipe import Recipe


def resolve_precision(precision: str) -> str:
    """`auto` -> mixed_float16 on GPUs with tensor cores (compute capability 7.0 or more), float32 on older GPUs,
    mixed_bfloat16 on CPUs with bfloat16 matrix math, else float32; any other value is returned as it is."""
    if precision != "auto":
        return precision
    capability = gpu_compute_capability()
    if capability is not None:
        return "mixed_float16" if capability >= (7, 0) else "float32"
    return "mixed_bfloat16" if cpu_has_bf16() else "float32"


def gpu_compute_capability() -> tuple | None:
    """The CUDA compute capability of TensorFlow's first GPU ((0, 0) when unknown), or None without GPUs."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    return tuple(tf.config.experimental.get_device_details(gpus[0]).get("compute_capability") or (0, 0))


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


def make_optimizer(recipe: Recipe, steps_per_epoch: int):
    """The recipe's optimizer with its learning-rate schedule (counted in steps of the global batch)."""
    import keras

    from inception_keras.engine.finetune import phased_rate

    o = recipe.optimizer
    common = dict(learning_rate=phased_rate(_learning_rate(recipe, steps_per_epoch), recipe, steps_per_epoch),
                  clipnorm=o.clipnorm, clipvalue=o.clipvalue)
    if o.ema is not None:
        common.update(use_ema=True, ema_momentum=o.ema)
    if o.gradient_accumulation_steps > 1:
        common["gradient_accumulation_steps"] = o.gradient_accumulation_steps
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


def _learning_rate(recipe: Recipe, steps_per_epoch: int):
    """A number (constant) or a Keras schedule (step, cosine with optional linear warm-up)."""
    import keras

    o, s = recipe.optimizer, recipe.schedule
    total = max(1, recipe.epochs * steps_per_epoch)
    if s.name == "step":
        return keras.optimizers.schedules.ExponentialDecay(
            o.learning_rate, max(1, round(s.every_epochs * steps_per_epoch)), s.factor, staircase=True)
    if s.name == "cosine":
        warm = int(round(s.warmup_epochs * steps_per_epoch))
        if warm:
            return keras.optimizers.schedules.CosineDecay(0.0, max(1, total - warm), alpha=s.min_factor,
                                                          warmup_target=o.learning_rate, warmup_steps=warm)
        return keras.optimizers.schedules.CosineDecay(o.learning_rate, total, alpha=s.min_factor)
    return o.learning_rate


def compile_model(models, recipe: Recipe, steps_per_epoch: int, jit) -> None:
    """Compile `models.train` (builder.Models): cross-entropy on logits (one-hot with label smoothing), accuracy
    of the main output, the recipe's optimizer; auxiliary heads add their weighted losses."""
    import keras

    from inception_keras.nn.builder import MAIN_OUTPUT

    if recipe.label_smoothing > 0 or (recipe.augment is not None and recipe.augment.mixes):  # one-hot labels
        loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe.label_smoothing)
        metric = keras.metrics.CategoricalAccuracy(name="accuracy")
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    metrics = [metric]
    classes = models.inference.output.shape[-1]
    if recipe.top5 is True or (recipe.top5 == "auto" and classes > 10):
        top = (keras.metrics.TopKCategoricalAccuracy if isinstance(metric, keras.metrics.CategoricalAccuracy) else
               keras.metrics.SparseTopKCategoricalAccuracy)
        metrics.append(top(k=5, name="top5_accuracy"))
    optimizer = make_optimizer(recipe, steps_per_epoch)
    if models.has_aux:
        models.train.compile(optimizer=optimizer, loss={k: loss for k in models.loss_weights},
                             loss_weights=dict(models.loss_weights), metrics={MAIN_OUTPUT: metrics},
                             steps_per_execution=recipe.steps_per_execution, jit_compile=jit)
    else:
        models.train.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                             steps_per_execution=recipe.steps_per_execution, jit_compile=jit)

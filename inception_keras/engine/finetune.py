"""Fine-tuning and the options beside the plain loop: frozen parts and phases, each phase's learning rate, EMA
weights at validation and in saved models, the best epoch (best.keras, early stopping), and averaging the last
epochs' weights.

Each is exact on resume: it is a function of the epoch and of the committed history, or it lives in variables
the backup saves (the optimizer's averages and accumulators). Keras is imported inside the functions that
use it (see callbacks.py).
"""
from __future__ import annotations

import contextlib
import functools
import os

from inception_keras import runs
from inception_keras.lang.freeze import frozen_prefixes, is_frozen

BEST = "best.keras"
AVERAGED = "averaged.keras"
AVERAGE_DIR = "average"  # under backup/: the inference weights of the last epochs, to be averaged


def phase_index(recipe, epoch: int) -> int:
    """The phase of a 0-based epoch: 0 before the first of `phases`, k from the k-th phase's first epoch."""
    return sum(1 for phase in recipe.phases if epoch + 1 >= phase.epoch)


def frozen_names(recipe, index: int) -> list:
    return list(recipe.freeze) if index == 0 else list(recipe.phases[index - 1].freeze)


def apply_freezing(model, spec, names) -> bool:
    """Make exactly the layers of the named parts non-trainable (a frozen BatchNorm then runs in inference mode,
    as Keras does); True when something changed, and then the model traces a new training step."""
    prefixes = frozen_prefixes(spec, names)
    changed = False
    for layer in model.layers:
        want = not is_frozen(layer.name, prefixes)
        if layer.weights and layer.trainable != want:
            layer.trainable = want
            changed = True
    if changed:
        model.train_function = None  # the step traced before captured the old list of trainable variables
    return changed


def count_params(variables) -> int:
    import numpy as np

    return int(sum(np.prod(v.shape) for v in variables))


def uses_phases(recipe) -> bool:
    return bool(recipe.freeze or recipe.phases)


def phased_rate(rate, recipe, steps_per_epoch: int):
    """`rate` (a number or a Keras schedule) times each phase's factor (its learning_rate / the optimizer's), the
    factor changing at the phase's first step; `rate` itself when no phase sets a rate."""
    factors, factor = [], 1.0
    for phase in recipe.phases:
        if phase.learning_rate is not None:
            factor = phase.learning_rate / recipe.optimizer.learning_rate
        factors.append(((phase.epoch - 1) * steps_per_epoch, factor))
    if all(f == 1.0 for _, f in factors):
        return rate
    return phased_schedule_class()(rate, [b for b, _ in factors], [f for _, f in factors])


@functools.cache
def phased_schedule_class():
    import keras

    @keras.saving.register_keras_serializable(package="inception_keras")
    class PhasedRate(keras.optimizers.schedules.LearningRateSchedule):
        """A rate (number or schedule) multiplied by a factor that changes at given steps."""

        def __init__(self, rate, boundaries, factors):
            self.rate, self.boundaries, self.factors = rate, list(boundaries), list(factors)

        def __call__(self, step):
            base = self.rate(step) if callable(self.rate) else self.rate
            factor = keras.ops.convert_to_tensor(1.0, dtype="float32")
            for boundary, value in zip(self.boundaries, self.factors):
                factor = keras.ops.where(step >= boundary, value, factor)
            return keras.ops.cast(base, "float32") * factor

        def get_config(self):
            rate = keras.optimizers.schedules.serialize(self.rate) if callable(self.rate) else self.rate
            return {"rate": rate, "boundaries": self.boundaries, "factors": self.factors}

        @classmethod
        def from_config(cls, config):
            rate = config["rate"]
            if isinstance(rate, dict):
                rate = keras.optimizers.schedules.deserialize(rate)
            return cls(rate, config["boundaries"], config["factors"])

    return PhasedRate


def keep_raw_weights_after_fit(optimizer) -> None:
    """Keras' `fit` ends by overwriting the weights with their EMA (`finalize_variable_values`); the trainer
    calls `fit` once per epoch, so that would restart every epoch from the averages. The averages are swapped in
    where they are used instead (validation, saved models), by `ema_weights`."""
    optimizer.finalize_variable_values = lambda var_list: None


@contextlib.contextmanager
def ema_weights(model):
    """The optimizer's EMA weights in the model for the duration (exactly: copies, not Keras' add/subtract
    swap, whose round-off would change the weights training continues from); nothing without EMA."""
    import keras

    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(optimizer, "use_ema", False):
        yield
        return
    pairs = [(v, a) for v, a in zip(optimizer._trainable_variables, optimizer._model_variables_moving_average)
             if a is not None]  # Keras' own attributes: the variables and their averages, in the same order
    raw = [keras.ops.convert_to_numpy(v) for v, _ in pairs]
    for v, a in pairs:
        v.assign(a)
    try:
        yield
    finally:
        for (v, _), value in zip(pairs, raw):
            v.assign(value)


class EmaValidation:
    """Validation on the EMA weights (a Keras callback once made by `callbacks.keras_callback`)."""

    def on_test_begin(self, logs=None):
        self.swap = ema_weights(self.model)
        self.swap.__enter__()

    def on_test_end(self, logs=None):
        self.swap.__exit__(None, None, None)


def best_epoch(history: list, early) -> int | None:
    """The 1-based epoch whose `early.metric` is best so far (the first of equals), None without one."""
    values = [(row.get(early.metric), row["epoch"]) for row in history if row.get(early.metric) is not None]
    if not values:
        return None
    sign = -1 if early.higher_is_better else 1
    return int(min(values, key=lambda p: (sign * float(p[0]), int(p[1])))[1])


def stop_early(history: list, early) -> bool:
    """Whether `patience` epochs have passed since the best one."""
    best = best_epoch(history, early) if early else None
    return best is not None and len(history) - best >= early.patience


class Annotator:
    """The columns a fine-tuning run adds to each epoch's CSV row, and what it keeps of that epoch, before the
    epoch is committed: best.keras when the epoch is the best so far, its weights when it is among the last N
    to be averaged (an interrupted epoch runs again and writes the same)."""

    def __init__(self, recipe, models, run_dir: str, chief: bool):
        self.recipe, self.models, self.run_dir, self.chief = recipe, models, run_dir, chief

    def __call__(self, epoch: int, row: dict, history: list) -> None:
        recipe = self.recipe
        if uses_phases(recipe):
            row["phase"] = phase_index(recipe, epoch)
            row["trainable_params"] = count_params(self.models.train.trainable_weights)
        if recipe.optimizer.ema is not None:
            row["val_on_ema"] = 1  # validation (the val_ columns) used the averaged weights
        if recipe.early_stopping:
            row["best_epoch"] = best_epoch(history + [row], recipe.early_stopping)
            if row["best_epoch"] == epoch + 1 and self.chief:
                with ema_weights(self.models.train):
                    runs.save_model(self.models.inference, self.run_dir, BEST)
        if recipe.average_last and self.chief:
            self.keep_for_average(epoch)

    def keep_for_average(self, epoch: int) -> None:
        import numpy as np

        folder = os.path.join(self.run_dir, runs.BACKUP, AVERAGE_DIR)
        os.makedirs(folder, exist_ok=True)
        with ema_weights(self.models.train):
            arrays = {str(i): np.asarray(w) for i, w in enumerate(self.models.inference.get_weights())}
        tmp = os.path.join(folder, f"epoch-{epoch + 1:04d}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, os.path.join(folder, f"epoch-{epoch + 1:04d}.npz"))
        for name in os.listdir(folder):
            if name.endswith(".npz") and not name.endswith(".tmp.npz") and \
                    int(name[6:10]) <= epoch + 1 - self.recipe.average_last:
                os.remove(os.path.join(folder, name))


def average_last(models, recipe, run_dir: str, done: int, val_ds, log) -> dict:
    """Average the kept weights of the last `average_last` epochs up to `done` into the inference model, save
    averaged.keras, evaluate it on the validation data; returns what state.json records."""
    import numpy as np

    folder = os.path.join(run_dir, runs.BACKUP, AVERAGE_DIR)
    epochs = [e for e in range(max(1, done - recipe.average_last + 1), done + 1)
              if os.path.exists(os.path.join(folder, f"epoch-{e:04d}.npz"))]
    stacks = [np.load(os.path.join(folder, f"epoch-{e:04d}.npz")) for e in epochs]
    current = models.inference.get_weights()
    averaged = []
    for i, w in enumerate(current):
        values = [s[str(i)] for s in stacks]
        mean = np.mean(np.stack(values).astype(np.float64), axis=0)
        averaged.append(mean.astype(w.dtype) if np.issubdtype(w.dtype, np.floating) else values[-1])
    models.inference.set_weights(averaged)
    runs.save_model(models.inference, run_dir, AVERAGED)
    scores = models.train.evaluate(val_ds, verbose=0, return_dict=True)
    result = {"epochs": epochs, **{f"val_{k}": float(v) for k, v in scores.items()}}
    log(f"averaged the weights of epochs {epochs[0]}-{epochs[-1]}: {AVERAGED}, " +
        " ".join(f"{k} {v:.4f}" for k, v in result.items() if k != "epochs"))
    return result

"""Work-arounds for Keras bugs, each with the upstream issue it answers.

keras-team/keras#20585: Keras 3's `fit` does not start under `tf.distribute.MultiWorkerMirroredStrategy`,
in two places:

1. before its first step `fit` builds the compiled state from one input batch, and to get that batch it
   averages a distributed batch with an eager cross-worker reduce, which fails. The batch only serves its
   shapes, so `build_for_multi_worker` builds the model from the dataset's element spec instead and turns
   Keras' own attempt off;
2. each step averages its logs across workers with `strategy.reduce("MEAN", v, axis=0)`, which fails on the
   scalar logs; `patch_keras_multi_worker_reduce` reduces scalars with axis=None instead.

Both reach into Keras' private modules (`keras.src`), which is why they live here, apart, and why they
check that they are applied at most once.
"""
from __future__ import annotations


def build_for_multi_worker(model, dataset, strategy) -> None:
    """Make `model.fit(dataset)` work under MultiWorkerMirroredStrategy (keras#20585, both places): patch the
    reduction of the logs, build the compiled model from `dataset.element_spec` in `strategy`'s scope, and
    skip Keras' own build from a batch."""
    patch_keras_multi_worker_reduce()
    with strategy.scope():
        model._symbolic_build(data_batch=dataset.element_spec)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def patch_keras_multi_worker_reduce() -> None:
    """Reduce scalar per-step logs across workers over axis None, not 0 (keras#20585, the second place).
    Idempotent; other strategies and reductions go to Keras' own function unchanged."""
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

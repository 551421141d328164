"""Recipe options that reproduce the d2l seed's input and update exactly (docs/fidelity.md): the last, partial
batch divided by the full batch size (`partial_batch`); `dataset.resize: opencv` is checked bit for bit against
MXNet in test_golden.py."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_RECIPE

from inception_keras.data import pipeline as D
from inception_keras.data.splits import Split
from inception_keras.lang.recipe import load_recipe


def split(n, seed=0):
    rng = np.random.default_rng(seed)
    return Split(n, images=rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8),
                   labels=rng.integers(0, 10, n).astype(np.int32))


@pytest.mark.e2e
def test_pipeline_weighs_the_partial_batch_by_n_over_batch():
    batches = list(D.pipeline(split(70), (16, 16, 1), 32, training=True, partial_batch="divide_by_batch_size",
                              stored_channels=1))
    assert [len(b[0]) for b in batches] == [32, 32, 6]
    assert [np.unique(b[2].numpy()).tolist() for b in batches] == [[1.0], [1.0], [6 / 32]]
    assert all(len(b) == 2 for b in D.pipeline(split(70), (16, 16, 1), 32, training=True, stored_channels=1))


@pytest.mark.e2e
def test_partial_batch_step_is_d2l_sum_over_batch_size():
    """One SGD step on a 20-example batch with batch_size 32: d2l's trainer.step(32) takes 20/32 of Keras' step."""
    import keras

    def step(partial_batch):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                                  keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
        before = [v.numpy().copy() for v in model.trainable_variables]
        model.compile(optimizer=keras.optimizers.SGD(0.5),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        ds = D.pipeline(split(20, seed=1), (16, 16, 1), 32, training=True, partial_batch=partial_batch,
                        stored_channels=1)
        model.fit(ds, epochs=1, verbose=0, shuffle=False)
        return [v.numpy() - b for v, b in zip(model.trainable_variables, before)]

    mean, d2l = step("mean"), step("divide_by_batch_size")
    assert max(np.abs(m).max() for m in mean) > 1e-3
    for m, d in zip(mean, d2l):
        np.testing.assert_allclose(d, m * 20 / 32, rtol=1e-4, atol=1e-7)


def test_recipe_key(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(TINY_RECIPE.replace("DATA", str(tmp_path)) + "partial_batch: divide_by_batch_size\n")
    recipe = load_recipe(str(path))
    assert recipe.partial_batch == "divide_by_batch_size" and recipe.to_dict()["partial_batch"] == recipe.partial_batch
    path.write_text(TINY_RECIPE.replace("DATA", str(tmp_path)) + "partial_batch: sum\n")
    with pytest.raises(Exception, match="unknown value 'sum'.*one of: mean, divide_by_batch_size"):
        load_recipe(str(path))
    path.write_text(TINY_RECIPE.replace("DATA", str(tmp_path)))
    assert load_recipe(str(path)).partial_batch == "mean"

"""The Keras side of the MetaNeXt words (nn/blocks_next.py): drop path (identity at inference, seeded in
training), a split branch's slices, layer scale, LayerNorm -- parameters as the cost rules count them, and a
model.keras file that loads back with the same outputs."""
from __future__ import annotations

import numpy as np
import pytest

import inception_keras as ik
from inception_keras.lang.parse import load_arch

pytestmark = pytest.mark.e2e

NET = """name: t
input: [12, 10, 3]
classes: 5
defaults: {use_bias: true, batch_norm: false, activation: linear, padding: same}
stages:
  body:
    - conv: {filters: 16, kernel: 2, stride: 2, padding: valid}
    - branch:
        name: mix
        split: [10, 2, 2, 2]
        branches:
          - []
          - [conv: {filters: 2, kernel: 3, groups: 2}]
          - [conv: {filters: 2, kernel: [1, 5], groups: 2}]
          - [conv: {filters: 2, kernel: [5, 1], groups: 2}]
    - conv: {filters: 8, kernel: 1, groups: 4}
    - layer_scale: {init: 0.5}
    - drop_path: {rate: 0.5, seed: 3}
  head:
    - global_avgpool
    - dense: {units: 6, activation: gelu}
    - layer_norm: {}
    - dense: {}
"""


def test_drop_path_is_the_identity_at_inference_and_seeded_in_training():
    from inception_keras.nn.blocks_next import DropPath

    x = np.random.default_rng(0).standard_normal((64, 3, 3, 2)).astype("float32")
    assert np.array_equal(np.asarray(DropPath(0.5, seed=1)(x, training=False)), x)
    a = np.asarray(DropPath(0.5, seed=1)(x, training=True))
    b = np.asarray(DropPath(0.5, seed=1)(x, training=True))
    assert np.array_equal(a, b)  # the same seed drops the same samples
    kept = np.array([np.allclose(a[i], x[i] / 0.5) for i in range(64)])
    dropped = np.array([not a[i].any() for i in range(64)])
    assert (kept | dropped).all() and 10 < kept.sum() < 54  # whole samples, about half of them
    c = np.asarray(DropPath(0.5, seed=2)(x, training=True))
    assert not np.array_equal(a, c)


def test_split_branch_layer_scale_and_layer_norm_in_keras(tmp_path):
    import keras

    spec = load_arch("net.yaml", NET)
    model = ik.build_model(spec)
    assert model.count_params() == spec.params
    assert model.get_layer("mix.1.slice").output.shape[-1] == 10
    x = np.random.default_rng(1).standard_normal((2, 12, 10, 3)).astype("float32")
    mid = keras.Model(model.input, [model.get_layer("body.conv1").output, model.get_layer("mix").output])
    before, after = (np.asarray(t) for t in mid(x))
    assert np.array_equal(after[..., :10], before[..., :10])  # the identity slice passes unchanged
    assert np.allclose(np.asarray(model.get_layer("body.layer_scale1").weights[0]), 0.5)
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(np.asarray(again(x, training=False)), np.asarray(model(x, training=False)), atol=1e-6)

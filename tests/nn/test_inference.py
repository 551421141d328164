"""The inference forms (nn/inference.py): BatchNorm folded in float32 equals the trained model to float32
round-off on every family network; the bfloat16 form computes in bfloat16 and agrees with float32 in top-1."""
import os

import numpy as np
import pytest
from conftest import ROOT, TINY_ARCH, bars

pytestmark = pytest.mark.e2e

FAMILY = ["googlenet_bn", "inception_v3", "xception", "inception_resnet_v2", "inception_v4"]


def perturb_bn(model, seed=0):
    """BatchNorm statistics and affine terms far from their initial values, so that a wrong fold shows."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0, 0.5, n))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n))
            if layer.scale:
                layer.gamma.assign(rng.uniform(0.5, 1.5, n))
            if layer.center:
                layer.beta.assign(rng.normal(0, 0.3, n))


def relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(a).max())


def count_bn(model) -> int:
    import keras

    return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


@pytest.mark.parametrize("name", FAMILY)
def test_each_family_network_folds_exactly_and_runs_in_bfloat16(name):
    import keras

    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_model
    from inception_keras.nn.inference import foldable_pairs, inference_model

    model = build_model(load_arch(os.path.join(ROOT, "arch", f"{name}.yaml"),
                                  sets=[("input", [75, 75, 3]), ("classes", 10)]))
    perturb_bn(model)
    x = np.random.default_rng(1).uniform(0, 1, (4, 75, 75, 3)).astype("float32")
    ref = model(x, training=False)
    folded = inference_model(model)
    assert len(foldable_pairs(model)) == count_bn(model) > 0  # every BatchNorm of these follows a conv
    assert count_bn(folded) == 0
    assert relative(ref, folded(x, training=False)) < 1e-5
    bf16 = inference_model(model, "bfloat16")
    assert {layer.dtype_policy.compute_dtype for layer in bf16.layers} == {"bfloat16", "float32"}
    out = bf16(x, training=False)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert 1e-5 < relative(ref, out) < 5e-2  # bfloat16 round-off: visible, small


def test_only_a_batchnorm_right_after_a_layer_alone_is_folded():
    """A BatchNorm after a concatenation, or after a conv another layer also reads, stays; scale=False and
    center=False fold exactly; Dense, depthwise and separable convolutions fold."""
    import keras
    from keras import layers

    from inception_keras.nn.inference import foldable_pairs, inference_model

    inp = keras.Input((12, 12, 3))
    a = layers.Conv2D(4, 3, padding="same", name="a")(inp)
    a = layers.BatchNormalization(scale=False, name="a.bn")(a)
    b = layers.Conv2D(4, 1, use_bias=False, name="b")(inp)
    b_bn = layers.BatchNormalization(center=False, name="b.bn")(b)
    side = layers.ReLU(name="side")(b)  # b has a second reader: b.bn stays
    cat = layers.Concatenate(name="cat")([a, b_bn, side])
    cat = layers.BatchNormalization(name="cat.bn")(cat)  # after a concat: stays
    d = layers.DepthwiseConv2D(3, name="dw")(cat)
    d = layers.BatchNormalization(name="dw.bn")(d)
    s = layers.SeparableConv2D(5, 3, name="sep")(d)
    s = layers.BatchNormalization(name="sep.bn")(s)
    f = layers.Dense(6, name="fc")(layers.GlobalAveragePooling2D()(s))
    f = layers.BatchNormalization(name="fc.bn")(f)
    model = keras.Model(inp, layers.Dense(3, name="logits")(f))
    perturb_bn(model)
    assert foldable_pairs(model) == {"a.bn": "a", "dw.bn": "dw", "sep.bn": "sep", "fc.bn": "fc"}
    x = np.random.default_rng(2).uniform(0, 1, (3, 12, 12, 3)).astype("float32")
    folded = inference_model(model)
    assert relative(model(x, training=False), folded(x, training=False)) < 1e-5
    assert count_bn(folded) == 2
    with pytest.raises(ValueError, match="precision"):
        inference_model(model, "float16")


def test_the_bfloat16_form_of_a_trained_network_agrees_with_float32():
    """A tiny network with BatchNorm trained on the bars: bfloat16 gives float32's top-1 on >= 95% of random
    images and loses at most 2 points of accuracy on held-out bars."""
    import keras

    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_model
    from inception_keras.nn.inference import inference_model

    keras.utils.set_random_seed(0)
    arch = TINY_ARCH.replace("name: tiny\n", "name: tiny\ndefaults: {batch_norm: true, bn_momentum: 0.9}\n")
    model = build_model(load_arch("tiny.yaml", text=arch))
    x, y = bars(640, 0)
    xt, yt = bars(320, 1)
    prep = lambda a: keras.ops.image.resize(a[..., None].astype("float32") / 255, (16, 16))  # noqa: E731
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(prep(x), y, epochs=6, batch_size=32, verbose=0)
    f32, bf16 = inference_model(model), inference_model(model, "bfloat16")
    accuracy = {k: float((np.argmax(m.predict(prep(xt), verbose=0), 1) == yt).mean())
                for k, m in (("f32", f32), ("bf16", bf16))}
    assert accuracy["f32"] > 0.8, accuracy  # it learned
    assert accuracy["bf16"] >= accuracy["f32"] - 0.02, accuracy
    r = np.random.default_rng(3).uniform(0, 1, (256, 16, 16, 1)).astype("float32")
    agree = (np.argmax(f32.predict(r, verbose=0), 1) == np.argmax(bf16.predict(r, verbose=0), 1)).mean()
    assert agree >= 0.95, agree

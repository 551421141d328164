"""create_model and the constructors against keras.applications' own models (weights=None): output shapes and
parameter counts for the same arguments, the input variants its users rely on, features_only, weights from a
file by layer name, preprocess_input against keras.applications' numerically."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import lazy

keras = lazy("keras")  # imported by the tests that use it (docs/testing.md)

import inception_keras as ik  # noqa: E402
from inception_keras import models  # noqa: E402
from inception_keras.errors import ConfigError  # noqa: E402
from inception_keras.lang.backbone import load_backbone  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.golden]

REFERENCES = {"inception_v3": (models.InceptionV3, "InceptionV3", "inception_v3"),
              "inception_resnet_v2": (models.InceptionResNetV2, "InceptionResNetV2", "inception_resnet_v2"),
              "xception": (models.Xception, "Xception", "xception")}


def reference(name, **kw):
    return getattr(keras.applications, REFERENCES[name][1])(weights=None, **kw)


@pytest.mark.parametrize("name", list(REFERENCES))
@pytest.mark.parametrize("input_shape", [None, (171, 171, 3), (None, None, 3)])
def test_headless_shapes_and_parameters_are_keras_applications(name, input_shape):
    for pooling in (None, "avg", "max"):
        ours = ik.create_model(name, include_top=False, input_shape=input_shape, pooling=pooling)
        ref = reference(name, include_top=False, input_shape=input_shape, pooling=pooling)
        assert ours.output_shape == ref.output_shape, (pooling, ours.output_shape, ref.output_shape)
        assert ours.count_params() == ref.count_params()
    constructor = REFERENCES[name][0]
    top = constructor(input_shape=input_shape if input_shape and input_shape[0] else None)
    ref = reference(name)
    assert top.output_shape == ref.output_shape == (None, 1000) and top.count_params() == ref.count_params()
    assert top.layers[-1].activation is keras.activations.softmax


def test_input_channels_tensor_classes_and_activation():
    gray = ik.create_model("inception_v3", include_top=False, input_shape=(171, 171, 1), pooling="avg")
    ref = reference("inception_v3", include_top=False, input_shape=(171, 171, 1), pooling="avg")
    assert gray.count_params() == ref.count_params()
    four = ik.create_model("xception", include_top=False, input_shape=(96, 96, 4), pooling="max")
    assert four.count_params() == reference("xception", include_top=False, input_shape=(96, 96, 4),
                                            pooling="max").count_params()
    inp = keras.Input((None, None, 3))
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1)(inp)  # the user's own layers before the network
    model = ik.create_model("inception_v3", include_top=False, input_tensor=scaled, pooling="avg")
    assert model.inputs[0] is inp and model.output_shape == (None, 2048)
    out = model(np.random.default_rng(0).uniform(0, 255, (1, 96, 96, 3)).astype("float32"))
    assert out.shape == (1, 2048)
    five = ik.create_model("inception_v3", classes=5, classifier_activation=None, input_shape=(96, 96, 3))
    x = np.random.default_rng(1).uniform(-1, 1, (2, 96, 96, 3)).astype("float32")
    logits = keras.ops.convert_to_numpy(five(x))
    assert logits.shape == (2, 5) and not np.allclose(logits.sum(1), 1.0)
    soft = ik.create_model("inception_v3", classes=5, input_shape=(96, 96, 3))
    soft.set_weights(five.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(soft(x)),
                               keras.ops.convert_to_numpy(keras.ops.softmax(logits)), atol=1e-5)


def test_features_only_gives_the_stage_outputs_by_name():
    model = ik.create_model("inception_v3", features_only=True, input_shape=(171, 171, 3))
    shapes = {k: tuple(v.shape) for k, v in model.output.items()}
    assert shapes == {"stem": (None, 19, 19, 192), "mixed": (None, 4, 4, 2048)}
    out = model(np.zeros((1, 171, 171, 3), "float32"))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"stem": (1, 19, 19, 192), "mixed": (1, 4, 4, 2048)}
    picked = ik.create_model("xception", features_only=True, out_indices=[0, -1])
    assert sorted(picked.output) == ["entry", "exit"] and picked.output["exit"].shape[-1] == 2048
    with pytest.raises(ConfigError, match="no stage index"):
        ik.create_model("xception", features_only=True, out_indices=[7])


def test_weights_from_a_file_load_by_layer_name_and_skip_a_new_head(tmp_path):
    full = ik.create_model("googlenet_bn", input_shape=(96, 96, 3))
    path = str(tmp_path / "g.weights.h5")
    full.save_weights(path)
    x = np.random.default_rng(2).uniform(0, 1, (2, 96, 96, 3)).astype("float32")
    same = ik.create_model("googlenet_bn", weights=path, input_shape=(96, 96, 3))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(same(x)), keras.ops.convert_to_numpy(full(x)), atol=1e-6)
    five = ik.create_model("googlenet_bn", weights=path, classes=5, include_top=True, input_shape=(96, 96, 3))
    back = ik.create_model("googlenet_bn", weights=path, include_top=False, pooling="avg", input_shape=(96, 96, 3))
    last = load_backbone("googlenet_bn").stages[-1].layers[-1].name  # the last layer before the head's pool
    feats = keras.ops.convert_to_numpy(keras.Model(full.inputs, full.get_layer(last).output)(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back(x)), feats.mean(axis=(1, 2)), atol=1e-5)
    for layer in five.layers[1:-1]:
        for a, b in zip(layer.get_weights(), full.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="no preset of googlenet_bn has this name"):
        ik.create_model("googlenet_bn", weights="no-such-preset")


def test_preprocess_input_is_keras_applications_for_the_keras_networks():
    x = np.random.default_rng(3).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    for name, (_, _, module) in REFERENCES.items():
        ref = getattr(keras.applications, module).preprocess_input(x.copy())
        np.testing.assert_allclose(models.preprocess_input(x, name), ref, atol=1e-6)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(models.preprocess_input(keras.ops.convert_to_tensor(x),
                                                                                      name)), ref, atol=1e-6)
    # googlenet_bn declares no normalize: googlenet_bn_imagenet's ([-1, 1], TensorFlow's Inception v1 input)
    np.testing.assert_allclose(models.preprocess_input(x, "googlenet_bn"), x / 127.5 - 1, atol=1e-5)
    np.testing.assert_allclose(models.preprocess_input(x, "googlenet"), x / 255, atol=1e-7)  # none declared

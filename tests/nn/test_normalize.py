"""`normalize`: what a network's input expects, declared in its YAML and applied by the model's first layer
(issue 14, item 4). The numerical proof against torchvision's transform_input is in test_golden.py."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import ROOT

import inception_keras as ik
from inception_keras.errors import ConfigError
from inception_keras.lang.parse import load_arch, parse_arch
from inception_keras.lang.reader import Document

ARCH = os.path.join(ROOT, "arch")

TINY = """\
name: tiny-norm
input: [8, 8, 3]
classes: 4
{normalize}
stages:
  s1:
    - conv: {{filters: 4, kernel: 3}}
    - global_avgpool
  head:
    - dense: {{}}
"""


def tiny(normalize: str):
    return load_arch("tiny.yaml", text=TINY.format(normalize=normalize))


def test_imagenet_file_declares_what_transform_input_makes_and_nothing_else_changes():
    bn, imagenet = load_arch(os.path.join(ARCH, "googlenet_bn.yaml")), load_arch(os.path.join(ARCH,
                                                                                             "googlenet_bn_imagenet.yaml"))
    assert bn.normalize is None and "normalize" not in bn.config
    assert imagenet.normalize.per_channel(3) == ((0.5,) * 3, (0.5,) * 3)
    assert imagenet.config["normalize"] == {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    assert imagenet.stages == bn.stages and imagenet.aux_heads == bn.aux_heads and imagenet.rows == bn.rows
    again = parse_arch(Document("config.yaml", imagenet.config))  # a run's config.yaml reads back the same
    assert again.normalize == imagenet.normalize and again.config == imagenet.config
    for name in ("googlenet.yaml", "googlenet_paper.yaml"):  # the seed takes [0, 1] grey images as they are
        assert load_arch(os.path.join(ARCH, name)).normalize is None


@pytest.mark.e2e
def test_first_layer_computes_x_minus_mean_over_std_and_survives_model_keras(tmp_path):
    import keras

    spec = tiny("normalize: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}")
    model = ik.build_model(spec)
    layer = model.layers[1]
    assert layer.name == "input.normalize" and not layer.weights and model.layers[2].input is layer.output
    x = np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)
    probe = keras.Model(model.input, layer.output)
    want = (x.astype(np.float64) - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    got = np.asarray(probe(x))
    assert np.max(np.abs(got - want)) < 1e-6
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    assert loaded.get_layer("input.normalize").get_config()["std"] == [0.229, 0.224, 0.225]
    assert np.array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    # one value for all channels; and without `normalize` no layer at all
    one = ik.build_model(tiny("normalize: {mean: [0.5], std: [0.25]}"))
    assert one.get_layer("input.normalize").get_config()["mean"] == [0.5, 0.5, 0.5]
    assert "input.normalize" not in [lyr.name for lyr in ik.build_model(tiny("")).layers]


def test_set_overrides_it():
    spec = load_arch(os.path.join(ARCH, "googlenet_bn.yaml"), sets=[("normalize", {"mean": [0.1], "std": [2]})])
    assert spec.normalize.per_channel(3) == ((0.1,) * 3, (2.0,) * 3)


@pytest.mark.parametrize("text, where, message", [
    ("normalize: {mean: [0.5, 0.5], std: [0.5]}", "normalize.mean", "2 values for an input of 3 channels"),
    ("normalize: {mean: [0.5], std: [0.5, 0, 0.5]}", "normalize.std", "expected numbers > 0, got [0.5, 0.0, 0.5]"),
    ("normalize: {mean: [0.5, x, 0.5], std: [1]}", "normalize.mean", "expected a list of numbers"),
    ("normalize: {mean: [], std: [1]}", "normalize.mean", "expected a list of numbers"),
    ("normalize: {mean: [0.5]}", "normalize", "missing required key 'std'"),
    ("normalize: {mean: [0.5], stdev: [1]}", "normalize.stdev", "did you mean 'std'?"),
    ("normalize: [0.5, 0.5]", "normalize", "expected a mapping"),
])
def test_mistakes_name_the_key_and_line(text, where, message):
    with pytest.raises(ConfigError) as e:
        tiny(text)
    text = str(e.value)
    assert "tiny.yaml:4:" in text and f": {where}: " in text and message in text, text

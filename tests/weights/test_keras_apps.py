"""arch/inception_v3.yaml, inception_resnet_v2.yaml and xception.yaml equal keras.applications' own models.

The reference gets random weights (BatchNorm moving statistics moved away from 0/1), they are copied onto ours
by structure (weights.keras_apps: layer types and shapes, not Keras' generated names), and the logits must agree
within 1e-4 relative in float32 at the default input (299) and at an odd size that is no multiple of 32.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import lazy

from inception_keras.lang.parse import load_arch

pytestmark = pytest.mark.golden

keras = lazy("keras")  # imported by the tests that use it (docs/testing.md)
B = lazy("inception_keras.nn.builder")
KA = lazy("inception_keras.weights.keras_apps")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASES = [("inception_v3.yaml", 23_851_784, 139), ("inception_resnet_v2.yaml", 55_873_736, 139),
         ("xception.yaml", 22_910_480, 151)]
CONSTRUCTOR = {"inception_v3.yaml": "InceptionV3", "inception_resnet_v2.yaml": "InceptionResNetV2",
               "xception.yaml": "Xception"}


def randomize(model, seed: int) -> None:
    """Random weights scaled by fan-in; BatchNorm statistics away from 0 and 1."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for w in layer.weights:
            shape, name = tuple(w.shape), w.path.rsplit("/", 1)[-1]
            if name == "moving_variance" or name == "gamma":
                value = rng.uniform(0.5, 1.5, shape)
            elif name in ("moving_mean", "beta", "bias"):
                value = rng.normal(0.0, 0.2, shape)
            else:
                value = rng.normal(0.0, 1.0, shape) / np.sqrt(np.prod(shape[:-1]))
            w.assign(value.astype("float32"))


def logits_gap(arch: str, size: int) -> tuple[float, int, int]:
    """(largest logit difference relative to the largest logit, the reference's and our parameter counts)."""
    path = os.path.join(ROOT, "arch", arch)
    spec = load_arch(path, sets=[("input", [size, size, 3])])
    ours = B.build_model(spec)
    ref = KA.reference_model(CONSTRUCTOR[arch], spec.input)
    randomize(ref, size)
    assert KA.copy_by_structure(ref, ours) == len(ref.weights)
    x = np.random.default_rng(1).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    a, b = np.asarray(ref(x, training=False)), np.asarray(ours(x, training=False))
    assert np.all(np.isfinite(a)) and np.abs(a).max() > 1e-3
    return float(np.abs(a - b).max() / np.abs(a).max()), ref.count_params(), ours.count_params()


@pytest.mark.parametrize("arch,params,odd", CASES, ids=[c[0] for c in CASES])
def test_keras_applications_equal(arch, params, odd):
    assert load_arch(os.path.join(ROOT, "arch", arch)).params == params
    for size in (299, odd):
        gap, ref_params, our_params = logits_gap(arch, size)
        assert ref_params == our_params == params
        print(f"{arch} {size}: largest logit difference {gap:.2e} of the largest logit")
        assert gap < 1e-4, (arch, size, gap)


def test_structure_mismatch_names_the_layer():
    """A network of another shape than the reference: each unpaired unit is named."""
    from inception_keras.errors import ConfigError

    spec = load_arch(os.path.join(ROOT, "arch", "xception.yaml"),
                     sets=[("input", [71, 71, 3]), ("width", 0.5)])
    ref = KA.reference_model("Xception", (71, 71, 3))
    with pytest.raises(ConfigError) as e:
        KA.copy_by_structure(ref, B.build_model(spec))
    assert "has no counterpart" in str(e.value) and "no layer of the reference has the shapes" in str(e.value)


@pytest.mark.parametrize("arch,module", [("inception_v3", "inception_v3"),
                                         ("inception_resnet_v2", "inception_resnet_v2"), ("xception", "xception")])
def test_imagenet_variants_normalize_as_the_references(arch, module):
    """The `_imagenet` file's input layer on [0, 1] images equals keras.applications' preprocess_input on the
    same images in [0, 255]; and the rest of the network is the plain file's."""
    from inception_keras.nn.blocks import InputNormalization

    spec = load_arch(os.path.join(ROOT, "arch", f"{arch}_imagenet.yaml"))
    plain = load_arch(os.path.join(ROOT, "arch", f"{arch}.yaml"))
    assert spec.stages == plain.stages and spec.params == plain.params
    x = np.random.default_rng(0).uniform(0, 1, (2, 5, 5, 3)).astype("float32")
    mean, std = spec.normalize.per_channel(3)
    ours = np.asarray(InputNormalization(mean, std)(x))
    want = np.asarray(getattr(keras.applications, module).preprocess_input(x * 255.0))
    np.testing.assert_allclose(ours, want, rtol=0, atol=1e-6)

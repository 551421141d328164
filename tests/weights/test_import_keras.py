"""`import-weights keras FILE --arch arch/xception.yaml --out OUT`: weight files written by Keras' own save
functions (legacy .h5 with and without top, Keras 3 .weights.h5) give our network the reference's logits."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import lazy
from test_keras_apps import randomize

from inception_keras.cli.app import main
from inception_keras.lang.parse import load_arch

pytestmark = pytest.mark.golden

keras = lazy("keras")  # imported by the tests that use it (docs/testing.md)
B = lazy("inception_keras.nn.builder")
KA = lazy("inception_keras.weights.keras_apps")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCH = os.path.join(ROOT, "arch", "xception.yaml")
SIZE = ["--set", "input=[71,71,3]"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The reference with random weights, saved by Keras: legacy h5 (top, no top) and Keras 3 .weights.h5."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    d = tmp_path_factory.mktemp("keras_files")
    ref = KA.reference_model("xception", (71, 71, 3))
    randomize(ref, 3)
    ref.save_weights(str(d / "ref.weights.h5"))
    with h5py.File(d / "legacy.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, ref)
    body = keras.Model(ref.inputs, ref.get_layer("avg_pool").input)
    with h5py.File(d / "legacy_notop.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, body)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 71, 71, 3)).astype("float32")
    return d, ref, x


@pytest.mark.parametrize("name", ["legacy.h5", "ref.weights.h5", "legacy_notop.h5"])
def test_import_keras_files(files, name, tmp_path):
    d, ref, x = files
    out = str(tmp_path / "x.weights.h5")
    assert main(["import-weights", "keras", str(d / name), "--arch", ARCH, *SIZE, "--out", out]) in (0, None)
    ours = B.build_model(load_arch(ARCH, sets=[("input", [71, 71, 3])]))
    ours.load_weights(out)
    if name.endswith("notop.h5"):
        feats = keras.Model(ours.inputs, ours.layers[-2].output)(x)
        want = keras.Model(ref.inputs, ref.get_layer("avg_pool").output)(x)
        a, b = np.asarray(want), np.asarray(feats)
    else:
        a, b = np.asarray(ref(x)), np.asarray(ours(x))
    assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()


def test_import_keras_wrong_network_exit_2(files, tmp_path, capsys):
    d, _, _ = files
    out = tmp_path / "v3.weights.h5"
    code = main(["import-weights", "keras", str(d / "legacy.h5"), "--arch", os.path.join(ROOT, "arch",
                 "inception_v3.yaml"), "--set", "input=[75,75,3]", "--out", str(out)])
    assert code == 2 and not out.exists()
    assert "Keras cannot load this file into keras.applications.InceptionV3" in capsys.readouterr().err



def test_import_not_a_weight_file_exit_2(tmp_path, capsys):
    bad = tmp_path / "x.h5"
    bad.write_text("not hdf5")
    out = tmp_path / "o.weights.h5"
    assert main(["import-weights", "keras", str(bad), "--arch", ARCH, *SIZE, "--out", str(out)]) == 2
    assert "not an HDF5 weight file" in capsys.readouterr().err and not out.exists()

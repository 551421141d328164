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
    ref = KA.reference_model("Xception", (71, 71, 3))
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


# Every arch/*_imagenet.yaml: the keras.applications model whose files it takes (None: not a keras.applications
# network). The code has no such table (the reference is found by the layers); this one says what the test expects,
# and a new *_imagenet.yaml fails the test until it is listed here.
IMAGENET_FILES = {"inception_v3_imagenet.yaml": ("InceptionV3", 75), "inception_resnet_v2_imagenet.yaml":
                  ("InceptionResNetV2", 75), "xception_imagenet.yaml": ("Xception", 71),
                  "googlenet_bn_imagenet.yaml": (None, 75)}


# timm's ImageNet variants (timm's pretrained normalisation): their weights come through `import-weights timm`, proven
# on timm's own logits in tests/weights/test_family_next.py and test_family_xalign.py, not through keras.applications
TIMM_IMAGENET_FILES = {f"inception_next_{v}_imagenet.yaml" for v in ("atto", "tiny", "small", "base")} | {
    f"xception{d}_imagenet.yaml" for d in (41, 65, 71)}


def test_every_imagenet_file_is_listed():
    assert sorted(f for f in os.listdir(os.path.join(ROOT, "arch")) if f.endswith("_imagenet.yaml")) == \
        sorted(set(IMAGENET_FILES) | TIMM_IMAGENET_FILES)


@pytest.mark.e2e
@pytest.mark.golden
@pytest.mark.parametrize("arch", sorted(IMAGENET_FILES))
def test_documented_import_for_every_imagenet_file(arch, tmp_path, capsys):
    """`import-weights keras FILE.h5 --arch arch/X_imagenet.yaml --out OUT.keras` (the command each file's comment
    gives) with a legacy .h5 written by Keras' own save function from keras.applications' model: the .keras file
    gives keras.applications' logits on preprocess_input's images. A network keras.applications does not build
    is refused (exit 2) saying how far each model is."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    constructor, size = IMAGENET_FILES[arch]
    out = tmp_path / "out.keras"
    ref = KA.reference_model(constructor or "InceptionV3", (size, size, 3))
    randomize(ref, 5)
    with h5py.File(tmp_path / "w.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, ref)
    code = main(["import-weights", "keras", str(tmp_path / "w.h5"), "--arch", os.path.join(ROOT, "arch", arch),
                 "--set", f"input=[{size},{size},3]", "--out", str(out)])
    if constructor is None:
        assert code == 2 and not out.exists()
        assert "no keras.applications model has this network's layers" in capsys.readouterr().err
        return
    assert code in (0, None), capsys.readouterr().err
    assert f"(keras.applications.{constructor}) onto" in capsys.readouterr().out
    model = keras.models.load_model(str(out), compile=False)
    u8 = np.random.default_rng(1).uniform(0, 255, (2, size, size, 3)).astype("float32")
    module = {"InceptionV3": "inception_v3", "InceptionResNetV2": "inception_resnet_v2", "Xception": "xception"}
    want = np.asarray(ref(getattr(keras.applications, module[constructor]).preprocess_input(u8.copy())))
    got = np.asarray(model(u8 / 255.0))
    assert np.abs(want - got).max() <= 1e-4 * np.abs(want).max()

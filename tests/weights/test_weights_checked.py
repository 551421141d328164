"""Issue 33, item 3: every importer's weights are checked as the model holds them (after conversion to its
dtype), in the one place every import writes through (weights.imported.write_model): a NaN, an infinity, a
float64 value that overflows float32, or a negative BatchNorm variance is refused with the tensor's name, exit 2,
and nothing is written; for torchvision's GoogLeNet, timm/PyTorch state dicts (structural) and keras.applications
files."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

from inception_keras.cli.app import main

pytestmark = pytest.mark.e2e  # builds Keras models

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BN_TINY = """\
name: tinybn
input: [8, 8, 3]
classes: 4
defaults: {batch_norm: true, use_bias: false}
stages:
  s1:
    - conv: {filters: 4, kernel: 3, stride: 2}
    - global_avgpool
  head:
    - dense: {}
"""


def tiny_state() -> dict:
    """A PyTorch-style state dict of BN_TINY (conv, its BatchNorm, the classifier)."""
    rng = np.random.default_rng(0)
    return {"conv.weight": rng.normal(size=(4, 3, 3, 3)).astype("f4"), "bn.weight": np.ones(4, "f4"),
            "bn.bias": np.zeros(4, "f4"), "bn.running_mean": np.zeros(4, "f4"), "bn.running_var": np.ones(4, "f4"),
            "bn.num_batches_tracked": np.array(3, "i8"), "fc.weight": rng.normal(size=(4, 4)).astype("f4"),
            "fc.bias": np.zeros(4, "f4")}


def overflow(state):
    state["fc.weight"] = state["fc.weight"].astype("f8")
    state["fc.weight"][0, 0] = 1e300  # finite as float64, inf as float32: only a check after conversion sees it
    return "'head.dense1/kernel' holds 1 NaN or infinite value"


def negative_variance(state):
    state["bn.running_var"] = np.array([1, -2, 1, 1], "f4")
    return r"'s1.conv1.bn/moving_variance' holds 1 negative variance\(s\) \(the smallest -2\)"


def nan_conv(state):
    state["conv.weight"][0, 0, 0, 0] = np.nan  # the state dict's own check (before conversion) names the key
    return "tensor 'conv.weight' holds 1 NaN or infinite value"


@pytest.mark.parametrize("poison", [overflow, negative_variance, nan_conv])
@pytest.mark.parametrize("out", ["m.keras", "m.weights.h5"])
def test_timm_state_dict_poisons_are_refused_and_nothing_written(tmp_path, capsys, poison, out):
    arch = tmp_path / "bn.yaml"
    arch.write_text(BN_TINY)
    state = tiny_state()
    want = poison(state)
    np.savez(tmp_path / "s.npz", **state)
    code = main(["import-weights", "timm", str(tmp_path / "s.npz"), "--arch", str(arch), "--out",
                 str(tmp_path / out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "refused" in lines[0] and re.search(want, lines[0]), err
    assert sorted(os.listdir(tmp_path)) == ["bn.yaml", "s.npz"]  # no output, no temporary file


def test_the_same_state_unpoisoned_imports(tmp_path, capsys):
    arch = tmp_path / "bn.yaml"
    arch.write_text(BN_TINY)
    np.savez(tmp_path / "s.npz", **tiny_state())
    assert main(["import-weights", "timm", str(tmp_path / "s.npz"), "--arch", str(arch), "--out",
                 str(tmp_path / "m.keras")]) in (0, None)
    assert (tmp_path / "m.keras").stat().st_size > 0


def test_torchvision_overflowing_float64_is_refused(tmp_path, capsys):
    from test_golden import tv_ref, tv_state

    state = {k: np.asarray(v) for k, v in tv_state(tv_ref(224)).items()}
    key = "inception4a.branch2.1.bn.running_var"
    state[key] = state[key].astype("f8")
    state[key][3] = 1e39  # beyond float32's 3.4e38: becomes inf in the model
    np.savez(tmp_path / "tv.npz", **state)
    out = tmp_path / "g.keras"
    code = main(["import-weights", "torchvision", str(tmp_path / "tv.npz"), "--arch",
                 os.path.join(ROOT, "arch", "googlenet_bn.yaml"), "--input-shape", "64,64,3", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "moving_variance' holds 1 NaN or infinite value" in err and "4a" in err, err
    assert not out.exists() and not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]


@pytest.mark.golden  # keras.applications' own model writes the file
@pytest.mark.parametrize("value, want", [(np.nan, "NaN or infinite"), (-1.0, "negative variance")])
def test_keras_applications_file_poisons_are_refused(tmp_path, capsys, value, want):
    import h5py
    import keras
    from test_keras_apps import randomize

    ref = keras.applications.Xception(weights=None, input_shape=(71, 71, 3), classifier_activation=None)
    randomize(ref, 3)
    path = str(tmp_path / "ref.weights.h5")
    ref.save_weights(path)
    with h5py.File(path, "r+") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        target = next(n for n in names if n.endswith("vars/3")) if value < 0 else names[0]  # BN: gamma, beta, mean, var
        data = f[target][...]
        data.flat[0] = value
        f[target][...] = data
    out = tmp_path / "x.keras"
    code = main(["import-weights", "keras", path, "--arch", os.path.join(ROOT, "arch", "xception.yaml"), "--set",
                 "input=[71,71,3]", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and want in err and "refused, nothing written" in err, err
    assert not out.exists()

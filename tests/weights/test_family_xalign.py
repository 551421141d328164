"""timm's aligned Xceptions (issue 34 item 2): arch/xception41.yaml, xception65.yaml and xception71.yaml equal to
timm's `xception41`, `xception65` and `xception71` (timm/models/xception_aligned.py), proven on timm's own logits
at 299 px (timm's default) and 139 px (odd maps meet the stride-2 convolutions, where PyTorch's symmetric padding
and Keras' same differ), with `import-weights timm` mapping every tensor, the BatchNorm between each separable
convolution's depthwise and pointwise steps (`bn_dw`) included.

Fixtures tests/fixtures/timm_xception{41,65,71}_{299,139}.npz are written by tools/reference/timm_xalign.py
(`make golden-xalign`); the weights are regenerated from their seed (tools/reference/seeded.py: BatchNorm
statistics perturbed) and written as .safetensors (the safetensors library) or .pth (torch.save).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import ROOT
from test_golden import close, npz, rel, tv_input, tv_state
from test_import_weights import run_error, write_state

import inception_keras as ik
from inception_keras.cli.app import main
from inception_keras.weights import structural as S

pytestmark = pytest.mark.golden


def arch(name: str) -> str:
    return os.path.join(ROOT, "arch", f"{name}.yaml")


def at(name: str, size: int):
    return ik.build_model(ik.load_arch(arch(name), sets=[("input", [size, size, 3])]))


def trainable(model) -> int:
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def test_xception41_import_weights_at_139_and_299(tmp_path, capsys):
    """The command on a .safetensors file at 139 px, written as .weights.h5 and loaded; the same weights at 299:
    logits within 1e-4 of timm's (relative to the largest)."""
    ref = npz("timm_xception41_139.npz")
    state = tv_state(ref)
    sd = write_state(state, str(tmp_path / "xception41.safetensors"))
    target = str(tmp_path / "xception41.weights.h5")
    assert main(["import-weights", "timm", sd, "--arch", arch("xception41"), "--input-shape", "139,139,3",
                 "--out", target]) == 0
    report = capsys.readouterr().out
    convs = 2 + 2 * (12 * 3 + 3) + 4  # the stem's 2, a depthwise and a pointwise per sepconv (12 blocks of 3, and
    # the exit's 3), 4 shortcuts: each conv has its BatchNorm (4 tensors), then fc (weight and bias)
    assert f"mapped {5 * convs + 2} tensors onto {2 * convs + 1} layers" in report
    assert f"ignored {convs} num_batches_tracked keys" in report
    os.remove(sd)
    small = at("xception41", 139)
    small.load_weights(target)
    close("timm xception41 139px logits", small(tv_input(ref), training=False), ref["logits"], 1e-4)
    model = ik.build_model(arch("xception41"))
    assert trainable(model) == 26_969_560
    model.set_weights(small.get_weights())
    ref = npz("timm_xception41_299.npz")
    close("timm xception41 299px logits", model(tv_input(ref), training=False), ref["logits"], 1e-4)


@pytest.mark.parametrize("name, fmt, params", [("xception65", "pth", 39_916_312), ("xception71", None, 42_338_736)])
def test_xception65_and_71_at_299_and_139(name, fmt, params, tmp_path):
    """xception65 from a .pth file (torch.save), xception71 from the state dict in memory, mapped at 299; the same
    weights at 139."""
    ref = npz(f"timm_{name}_299.npz")
    state = tv_state(ref)
    if fmt:
        from inception_keras.weights.state_dict import load_state_dict

        state = load_state_dict(write_state(state, str(tmp_path / f"{name}.{fmt}")))
    model = ik.build_model(arch(name))
    assert trainable(model) == params
    report = S.state_dict_to_keras(state, model)
    assert len(report.mapped) == len(state) - len(report.ignored) and not report.skipped
    close(f"timm {name} 299px logits", model(tv_input(ref), training=False), ref["logits"], 1e-4)
    small = at(name, 139)
    small.set_weights(model.get_weights())
    ref = npz(f"timm_{name}_139.npz")
    close(f"timm {name} 139px logits", small(tv_input(ref), training=False), ref["logits"], 1e-4)


def test_a_missing_depthwise_batchnorm_is_named(tmp_path, capsys):
    ref = npz("timm_xception41_139.npz")
    state = {k: v for k, v in tv_state(ref).items() if not k.startswith("blocks.5.stack.conv2.bn_dw.")}
    sd = write_state(state, str(tmp_path / "bad.safetensors"))
    out = tmp_path / "x.weights.h5"
    err = run_error(["import-weights", "timm", sd, "--arch", arch("xception41"), "--input-shape", "139,139,3",
                     "--out", str(out)], capsys)
    assert err.startswith("error: ") and "missing: the state dict has no bn module of shape 728 for " in err
    assert not out.exists()


@pytest.mark.parametrize("key, value", [("defaults.bn_epsilon", 1e-5), ("defaults.padding", "same")])
def test_a_wrong_epsilon_or_keras_same_padding_shows(key, value):
    """The proof can fail: PyTorch's default epsilon (1e-5 for timm's 1e-3) or Keras' same padding (bottom and right
    only at stride 2) moves the logits far past the tolerance (measured: 4.5e-2 and 0.11 relative at 139 px)."""
    ref = npz("timm_xception41_139.npz")
    model = ik.build_model(ik.load_arch(arch("xception41"), sets=[("input", [139, 139, 3]), (key, value)]))
    S.state_dict_to_keras(tv_state(ref), model)
    _, relative = rel(model(tv_input(ref), training=False), ref["logits"])
    assert relative > 1e-2

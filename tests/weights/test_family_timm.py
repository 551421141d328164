"""`inception-keras import-weights timm STATE_DICT --arch ... --out ...` (issue 22, item 3): PyTorch state dicts
mapped onto our models by structure (weights/structural.py), proven on the references' own logits.

Weights are regenerated from each fixture's seed by tools/reference/seeded.py (the fixtures hold no weights) and
written as .safetensors (the safetensors library, no PyTorch) or with torch.save (.pth, where torch imports).
torchvision's googlenet (tests/fixtures/torchvision_googlenet_{224,200}.npz) proves the mapper on a network
whose arch file predates it; timm's inception_v4 (tests/fixtures/timm_inception_v4_{299,139}.npz, written by
tools/reference/timm_family.py) on the family.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import ROOT, lazy
from test_golden import BN_ARCH, close, npz, tv_input, tv_ref, tv_state
from test_import_weights import run_error, write_state

import inception_keras as ik
from inception_keras.cli.app import main
from inception_keras.errors import ConfigError
from inception_keras.weights import structural as S
from inception_keras.weights.state_dict import load_state_dict

pytestmark = pytest.mark.golden

keras = lazy("keras")  # imported by the tests that use it (docs/testing.md)
B = lazy("inception_keras.nn.builder")


@pytest.fixture(scope="module")
def state224():
    return tv_state(tv_ref(224))


@pytest.fixture(scope="module")
def googlenet_models():
    """torchvision's googlenet as arch/googlenet_bn.yaml builds it: the training model (with its aux heads) and the
    inference model, sharing layers."""
    return B.build_models(BN_ARCH)


@pytest.fixture(scope="module")
def googlenet(googlenet_models):
    return googlenet_models.train


def test_googlenet_safetensors_and_pth(state224, googlenet, tmp_path, capsys):
    """A .safetensors file stores its keys sorted by name, not in torchvision's declaration order; the mapper
    does not need that order. The command writes .keras (the inference model); .pth is read with torch."""
    sd = write_state(state224, str(tmp_path / "googlenet.safetensors"))
    assert list(load_state_dict(sd)) != list(state224)
    target = str(tmp_path / "out" / "googlenet.keras")
    assert main(["import-weights", "timm", sd, "--arch", BN_ARCH, "--out", target]) == 0
    report = capsys.readouterr().out
    assert "mapped 305 tensors onto 123 layers" in report and "ignored 59 num_batches_tracked keys" in report
    assert f"wrote {target}: the inference model (without the aux heads aux1, aux2: write .weights.h5 to keep " \
           "them) of googlenet-bn at input 224x224x3" in report
    ref = tv_ref(224)
    model = keras.models.load_model(target, compile=False)
    close("import-weights timm .safetensors -> .keras, 224px", model(tv_input(ref), training=False), ref["logits"],
          1e-4)
    pytest.importorskip("torch")
    pth = write_state(state224, str(tmp_path / "googlenet.pth"))
    report = S.state_dict_to_keras(load_state_dict(pth), googlenet, source=pth)
    assert len(report.mapped) == 305
    got = googlenet(tv_input(ref), training=False)
    for head in ("logits", "aux1", "aux2"):
        close(f".pth, 224px, {head}", got[head], ref["logits" if head == "logits" else f"{head}.logits"], 1e-4)


def messages(state, model) -> list:
    with pytest.raises(ConfigError) as e:
        S.state_dict_to_keras(state, model, source="sd")
    return [str(p) for p in e.value.problems]


def test_every_missing_unused_or_misshaped_tensor_is_named(state224, googlenet):
    before = [np.array(v) for v in googlenet.get_layer("b1.conv1").weights]
    bad = dict(state224)
    del bad["inception4b.branch2.1.bn.running_var"]
    bad["conv1.conv.bias"] = np.zeros(64, np.float32)
    bad["inception3a.branch1.conv.weight"] = np.zeros((64, 192, 3, 3), np.float32)  # 1x1 expected
    assert sorted(messages(bad, googlenet)) == [
        "sd: conv1.conv.bias: unused: b1.conv1 (Conv2D) has no such weight",
        "sd: inception3a.branch1.conv.weight: mis-shaped: (64, 192, 3, 3) does not fit 3a.1x1/kernel (1, 1, 192, 64)"
        " (PyTorch layout (64, 192, 1, 1))",
        "sd: inception4b.branch2.1.bn.running_var: missing: 4b.3x3.bn/moving_variance (224,) needs it"]
    assert all(np.array_equal(a, np.array(v)) for a, v in zip(before, googlenet.get_layer("b1.conv1").weights))

    no_branch = {k: v for k, v in state224.items() if not k.startswith("inception5b.branch4.")}
    no_branch["extra.weight"] = np.zeros((10, 1000), np.float32)
    got = messages(no_branch, googlenet)
    assert got == ["sd: extra.weight: unused: no layer of the model takes extra (linear 10x1000)",
                   "sd: 5b.pool_proj: missing: the state dict has no conv module of shape 128x832x1x1 for "
                   "5b.pool_proj (Conv2D)",
                   "sd: 5b.pool_proj.bn: missing: the state dict has no bn module of shape 128 for 5b.pool_proj.bn "
                   "(BatchNormalization)"]


def test_aux_heads_are_matched_apart(state224, googlenet):
    no_aux = {k: v for k, v in state224.items() if not k.startswith("aux")}
    got = messages(no_aux, googlenet)
    assert got == [f"sd: {h}: missing: the state dict has no aux-head modules (AuxLogits, aux1, ...); drop the "
                   "model's aux heads with --set aux_heads=null" for h in ("aux1", "aux2")]
    one_head = {k: v for k, v in state224.items() if not k.startswith("aux2")}
    assert messages(one_head, googlenet) == ["sd: aux2: missing: the state dict has no aux head for this head of "
                                             "the model"]


def test_cli_exit_2_names_the_tensor(state224, tmp_path, capsys):
    bad = dict(state224)
    bad["fc.weight"] = np.zeros((1000, 1023), np.float32)
    sd = write_state(bad, str(tmp_path / "bad.safetensors"))
    out = tmp_path / "g.keras"
    err = run_error(["import-weights", "timm", sd, "--arch", BN_ARCH, "--out", str(out)], capsys)
    assert err == (f"error: {sd}: fc.weight: mis-shaped: (1000, 1023) does not fit head.dense1/kernel (1024, 1000) "
                   "(PyTorch layout (1000, 1024))\n")
    assert not out.exists()


def test_aux_heads_skipped_and_said_when_the_model_has_none(state224, googlenet_models):
    report = S.state_dict_to_keras(state224, googlenet_models.inference)
    assert len(report.mapped) == 287 and len(report.skipped) == 18
    assert "skipped 18 keys (aux1.*, aux2.*): the architecture has no aux heads" in str(report)


# ----------------------------------------------------------------------------- timm's inception_v4

V4_ARCH = os.path.join(ROOT, "arch", "inception_v4.yaml")


def test_timm_inception_v4_at_139_and_299(tmp_path, capsys):
    """timm's inception_v4 (42,679,816 parameters) from a .safetensors state dict, at 139 px (odd, not a multiple
    of 32) through the command's .weights.h5 file and at its default input (299) mapped in memory: logits within
    1e-4 of timm's (measured: under 1e-6 of the largest)."""
    ref = npz("timm_inception_v4_139.npz")
    state = tv_state(ref)
    sd = write_state(state, str(tmp_path / "inception_v4.safetensors"))
    target = str(tmp_path / "inception_v4.weights.h5")
    assert main(["import-weights", "timm", sd, "--arch", V4_ARCH, "--input-shape", "139,139,3", "--out", target]) == 0
    report = capsys.readouterr().out
    assert "mapped 747 tensors onto 299 layers" in report and "ignored 149 num_batches_tracked keys" in report
    assert f"wrote {target}: the weights of the training model of inception-v4 at input 139x139x3" in report
    os.remove(sd)
    model = ik.build_model(ik.load_arch(V4_ARCH, sets=[("input", [139, 139, 3])]))
    model.load_weights(target)
    close("timm inception_v4 139px logits", model(tv_input(ref), training=False), ref["logits"], 1e-4)
    del model
    model = ik.build_model(V4_ARCH)
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == 42_679_816  # timm's parameters
    assert len(S.state_dict_to_keras(state, model).mapped) == 747
    ref = npz("timm_inception_v4_299.npz")
    close("timm inception_v4 299px logits", model(tv_input(ref), training=False), ref["logits"], 1e-4)


# ----------------------------------------------------------------------------- torchvision's inception_v3

TV3_ARCH = os.path.join(ROOT, "arch", "inception_v3_torchvision.yaml")


def test_torchvision_inception_v3_summary_counts_torchvisions_parameters(capsys):
    assert main(["summary", TV3_ARCH]) == 0
    out = capsys.readouterr().out
    assert "(23,834,568 trainable," in out and "total with auxiliary heads: 27,197,488 parameters (27,161,264 " \
        "trainable" in out


def test_torchvision_inception_v3_with_its_aux_head_at_299_and_139():
    """arch/inception_v3_torchvision.yaml (extends inception_v3.yaml) = torchvision's inception_v3 with its aux
    head: 27,161,264 parameters, main and aux logits at 299 px, main logits at 139 px (the aux head's 5x5
    convolution needs a 17x17 map, inputs of 299 to 330 px), all within 1e-4 of torchvision's. Mixed_5c's three
    same-shaped 1x1 convolutions (branch1x1, branch3x3dbl_1, branch_pool) are where a wrong choice would show."""
    ref = npz("torchvision_inception_v3_299.npz")
    models = B.build_models(TV3_ARCH)
    assert sum(int(np.prod(v.shape)) for v in models.train.trainable_weights) == 27_161_264
    assert sum(int(np.prod(v.shape)) for v in models.inference.trainable_weights) == 23_834_568
    report = S.state_dict_to_keras(tv_state(ref), models.train)
    assert len(report.mapped) == 484 and not report.skipped
    got = models.train(tv_input(ref), training=False)
    close("torchvision inception_v3 299px logits", got["logits"], ref["logits"], 1e-4)
    close("torchvision inception_v3 299px aux logits", got["aux"], ref["aux.logits"], 1e-4)
    ref = npz("torchvision_inception_v3_139.npz")
    assert "aux.logits" not in ref
    small = ik.build_model(ik.load_arch(TV3_ARCH, sets=[("input", [139, 139, 3]), ("aux_heads", None)]))
    small.set_weights(models.inference.get_weights())
    close("torchvision inception_v3 139px logits", small(tv_input(ref), training=False), ref["logits"], 1e-4)

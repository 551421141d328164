"""InceptionNeXt (arch/inception_next_*.yaml) equal to timm 1.0.31's `inception_next_*`, through `import-weights
timm` (weights/structural.py): state dicts written by the safetensors library and by torch.save from the seeded
tensors timm was given (tools/reference/timm_next.py; tests/fixtures/timm_inception_next_{variant}_{224,150}.npz
hold the keys, shapes, roles and timm's logits, no weights). BatchNorm statistics are perturbed (running_var in
[0.5, 1.5]) and every layer scale is near 1, so a wrong epsilon, slice or kernel orientation shows in the logits.

atto and tiny run here at 224 and 150 px (150: the stem and the 2x2 downsamples drop rows, 37 -> 18 -> 9 -> 4).
small and base (49 M and 87 M parameters) are minutes on a shared CPU: their logits are checked with
INCEPTION_KERAS_GOLDEN_FULL=1 (the golden target); their parameter counts always (tests/lang/test_metanext.py).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import ROOT, lazy
from test_golden import close, npz, shapes, tv_input
from test_import_weights import write_state

import inception_keras as ik
from inception_keras.cli.app import main
from inception_keras.errors import ConfigError
from inception_keras.weights import structural as S

pytestmark = pytest.mark.golden
seeded = lazy("seeded")
PARAMS = {"atto": 4_156_520, "tiny": 28_055_680, "small": 49_374_016, "base": 86_672_136}  # timm 1.0.31's
TENSORS = {"atto": 226, "tiny": 322, "small": 610, "base": 610}  # state_dict keys: (mapped + num_batches_tracked)
FULL = os.environ.get("INCEPTION_KERAS_GOLDEN_FULL", "") in ("1", "true", "yes")


def arch(variant: str) -> str:
    return os.path.join(ROOT, "arch", f"inception_next_{variant}.yaml")


def next_state(ref) -> dict:
    """The seeded state dict timm was given, regenerated from the fixture's keys, shapes and roles."""
    import seeded

    keys = [str(k) for k in ref["state.keys"]]
    state = seeded.state_dict(int(ref["seed"]), list(zip(keys, shapes(ref, "state"))),
                              [str(r) for r in ref["state.roles"]])
    assert seeded.digest_all([state[k] for k in keys]) == str(ref["state.digest"]), \
        "seeded.py no longer generates the state dict timm was given: run `make golden-timm`"
    return state


def check_variant(variant: str, fmt: str, tmp_path, capsys):
    """150 px through the command (a .weights.h5 file), 224 px mapped in memory; parameters as timm's."""
    ref = npz(f"timm_inception_next_{variant}_150.npz")
    assert int(ref["params"]) == PARAMS[variant]
    state = next_state(ref)
    sd = write_state(state, str(tmp_path / f"inception_next_{variant}.{fmt}"))
    target = str(tmp_path / f"inception_next_{variant}.weights.h5")
    assert main(["import-weights", "timm", sd, "--arch", arch(variant), "--input-shape", "150,150,3",
                 "--out", target]) == 0
    report = capsys.readouterr().out
    n_bn = sum(1 for k in state if k.endswith("num_batches_tracked"))
    assert f"mapped {TENSORS[variant] - n_bn} tensors onto" in report
    assert f"ignored {n_bn} num_batches_tracked keys" in report
    model = ik.build_model(ik.load_arch(arch(variant), sets=[("input", [150, 150, 3])]))
    model.load_weights(target)
    close(f"timm inception_next_{variant} 150px logits ({fmt})", model(tv_input(ref), training=False),
          ref["logits"], 1e-4)
    del model
    model = ik.build_model(arch(variant))
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == PARAMS[variant]
    S.state_dict_to_keras(state, model)
    ref = npz(f"timm_inception_next_{variant}_224.npz")
    close(f"timm inception_next_{variant} 224px logits", model(tv_input(ref), training=False), ref["logits"], 1e-4)


def test_atto_from_safetensors_at_150_and_224(tmp_path, capsys):
    check_variant("atto", "safetensors", tmp_path, capsys)


def test_tiny_from_pth_at_150_and_224(tmp_path, capsys):
    pytest.importorskip("torch")
    check_variant("tiny", "pth", tmp_path, capsys)


@pytest.mark.may_skip_in_ci("minutes on CPU: `make test-golden-full` runs them; CI checks their parameter counts")
@pytest.mark.skipif(not FULL, reason="InceptionNeXt-S/B logits: minutes on CPU; INCEPTION_KERAS_GOLDEN_FULL=1")
@pytest.mark.parametrize("variant", ["small", "base"])
def test_small_and_base_at_150_and_224(variant, tmp_path, capsys):
    check_variant(variant, "safetensors", tmp_path, capsys)


def test_a_missing_layer_norm_or_layer_scale_is_named():
    """The head's LayerNorm and the blocks' layer scales are modules of their own kinds (ln, scale): a state dict
    without one names the layer left without weights, and nothing is assigned."""
    ref = npz("timm_inception_next_atto_150.npz")
    state = next_state(ref)
    model = ik.build_model(ik.load_arch(arch("atto"), sets=[("input", [150, 150, 3])]))
    before = np.array(model.get_layer("head.layer_norm1").weights[0])
    no_norm = {k: v for k, v in state.items() if not k.startswith("head.norm.")}
    with pytest.raises(ConfigError) as e:
        S.state_dict_to_keras(no_norm, model, source="sd")
    assert [str(p) for p in e.value.problems] == [
        "sd: head.layer_norm1: missing: the state dict has no ln module of shape 960 for head.layer_norm1 "
        "(LayerNormalization)"]
    assert np.array_equal(before, np.array(model.get_layer("head.layer_norm1").weights[0]))
    no_scale = {k: v for k, v in state.items() if k != "stages.3.blocks.1.gamma"}
    with pytest.raises(ConfigError) as e:
        S.state_dict_to_keras(no_scale, model, source="sd")
    assert [str(p) for p in e.value.problems] == [
        "sd: s4_2.1.layer_scale1: missing: the state dict has no scale module of shape 320 for s4_2.1.layer_scale1 "
        "(LayerScale)"]

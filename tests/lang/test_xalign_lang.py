"""The aligned Xceptions in the language (issue 34 item 2): `sepconv` with `depthwise_bn` (BatchNorm and the
activation between the depthwise and pointwise steps, timm's SeparableConv2d) -- its shape, parameter and
multiply-add rule and its error -- and arch/xception41/65/71.yaml's counts equal to timm's: the numbers of timm's
own models and the sum of the state dict shapes timm wrote into the fixtures (tools/reference/timm_xalign.py)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from inception_keras.errors import ConfigError
from inception_keras.lang.parse import load_arch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

NET = """name: t
input: [9, 9, 4]
classes: 3
defaults: {use_bias: false, batch_norm: true, padding: 1}
stages:
  body:
    - sepconv: {filters: 6, kernel: 3, stride: 2, depthwise_bn: true, activation: relu}
  head:
    - global_avgpool
    - dense: {}
"""

# timm 1.0.31: sum(p.numel() for p in timm.create_model(name).parameters())
TIMM_PARAMS = {"xception41": 26_969_560, "xception65": 39_916_312, "xception71": 42_338_736}


def timm_counts(name: str) -> tuple[int, int]:
    """(parameters, BatchNorm running statistics) of timm's model, from the state dict shapes in its fixture."""
    with np.load(os.path.join(FIXTURES, f"timm_{name}_139.npz"), allow_pickle=False) as z:
        keys, ndim, flat = [str(k) for k in z["state.keys"]], z["state.ndim"], z["state.shapes"]
    params = stats = i = 0
    for key, n in zip(keys, ndim):
        size = int(np.prod(flat[i:i + n]))
        i += n
        if key.endswith(("running_mean", "running_var")):
            stats += size
        elif not key.endswith("num_batches_tracked"):
            params += size
    return params, stats


def test_depthwise_bn_costs():
    """Depthwise 3x3/2 with padding 1 on 9x9x4 -> 5x5x4, BatchNorm(4), 1x1 -> 6, BatchNorm(6)."""
    row = load_arch("net.yaml", NET).rows[0]
    assert row.shape == (5, 5, 6)  # (9 + 2 - 3) // 2 + 1
    assert row.params == 9 * 4 + 2 * 4 + 4 * 6 + 2 * 6  # kernels, gamma and beta after each step
    assert row.nontrainable == 2 * 4 + 2 * 6  # moving mean and variance after each step
    assert row.macs == 5 * 5 * (9 * 4 + 4 * 6)
    plain = load_arch("net.yaml", NET.replace("depthwise_bn: true", "depthwise_bn: false")).rows[0]
    assert (plain.params, plain.nontrainable) == (9 * 4 + 4 * 6 + 2 * 6, 2 * 6) and plain.macs == row.macs
    biased = load_arch("net.yaml", NET.replace("use_bias: false", "use_bias: true")).rows[0]
    assert biased.params == row.params + 4 + 6


def test_depthwise_bn_needs_batch_norm():
    with pytest.raises(ConfigError) as e:
        load_arch("net.yaml", NET.replace("depthwise_bn: true", "depthwise_bn: true, batch_norm: false"))
    assert [str(p) for p in e.value.problems] == [
        "net.yaml:7:65: stages.body[0].sepconv.depthwise_bn: a BatchNorm between the depthwise and pointwise steps "
        "needs batch_norm: true"]


@pytest.mark.parametrize("name", sorted(TIMM_PARAMS))
def test_summary_counts_timms_parameters(name):
    spec = load_arch(os.path.join(ROOT, "arch", f"{name}.yaml"))
    params, stats = timm_counts(name)
    assert spec.trainable_params == params == TIMM_PARAMS[name]
    assert spec.params - spec.trainable_params == stats
    assert spec.rows[-3].shape == (10, 10, 2048)  # timm's pool_size (10, 10) at 299


@pytest.mark.e2e
def test_depthwise_bn_builds_the_layers_it_counts():
    from inception_keras.nn.builder import build_model

    spec = load_arch("net.yaml", NET)
    model = build_model(spec)
    assert model.count_params() == spec.params
    kinds = [type(model.get_layer(f"body.sepconv1{s}")).__name__ for s in (".dw", ".dw.bn", ".dw.relu", "", ".bn")]
    assert kinds == ["DepthwiseConv2D", "BatchNormalization", "Activation", "Conv2D", "BatchNormalization"]
    assert tuple(model.get_layer("body.sepconv1").output.shape) == (None, 5, 5, 6)


def code_lines(name: str) -> int:
    """Lines of an arch file that are neither blank nor comments, with those of the files it extends."""
    with open(os.path.join(ROOT, "arch", f"{name}.yaml"), encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    parent = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("extends:")), None)
    own = sum(1 for line in lines if line and not line.startswith("#"))
    return own + (code_lines(parent[:-len(".yaml")]) if parent else 0)


def test_networks_md_states_the_yaml_code_lines():
    with open(os.path.join(ROOT, "docs", "networks.md"), encoding="utf-8") as f:
        text = " ".join(f.read().split())
    counts = [code_lines(n) for n in sorted(TIMM_PARAMS)]
    assert f"{counts[0]} code lines (xception41.yaml," in text
    assert f", {counts[1]} (with xception65.yaml's {counts[1] - counts[0]}), {counts[2]} (with xception71.yaml's " \
           f"{counts[2] - counts[1]})" in text


@pytest.mark.parametrize("name", sorted(TIMM_PARAMS))
def test_imagenet_variants_normalize_as_timms_pretrained_cfg(name):
    """arch/xceptionNN_imagenet.yaml: timm's network with the mean and std every pretrained tag of it declares
    (recorded in the fixture by tools/reference/timm_xalign.py), and names those tags in its comment."""
    path = os.path.join(ROOT, "arch", f"{name}_imagenet.yaml")
    spec = load_arch(path)
    with np.load(os.path.join(FIXTURES, f"timm_{name}_299.npz"), allow_pickle=False) as z:
        mean, std, tags = z["cfg.mean"], z["cfg.std"], [str(t).split()[0] for t in z["cfg.tags"]]
    assert spec.normalize.per_channel(3) == (tuple(mean.tolist()), tuple(std.tolist()))
    assert spec.trainable_params == TIMM_PARAMS[name]
    with open(path, encoding="utf-8") as f:
        head = f.read().split("extends:")[0]
    assert tags and all(f"`{t}`" in head for t in tags)

"""The MetaNeXt words of the language (InceptionNeXt, issue 34 item 1): `branch` with `split`, `conv` with
`groups` (depthwise, rectangular kernels), `layer_norm`, `layer_scale`, `drop_path` -- their shape, parameter and
multiply-add rules, their mistakes, and the four arch/inception_next_*.yaml counting timm 1.0.31's parameters.
No TensorFlow: the Keras side is tests/weights/test_family_next.py (logits equal to timm's)."""
from __future__ import annotations

import os

import pytest

from inception_keras.errors import ConfigError
from inception_keras.lang.diagram import branch_text
from inception_keras.lang.parse import load_arch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NET = """name: t
input: [12, 10, 3]
classes: 5
defaults: {use_bias: true, batch_norm: false, activation: linear, padding: same}
stages:
  body:
    - conv: {filters: 16, kernel: 2, stride: 2, padding: valid}
    - branch:
        name: mix
        split: [10, 2, 2, 2]
        branches:
          - []
          - [conv: {filters: 2, kernel: 3, groups: 2}]
          - [conv: {filters: 2, kernel: [1, 5], groups: 2}]
          - [conv: {filters: 2, kernel: [5, 1], groups: 2}]
    - conv: {filters: 8, kernel: 1, groups: 4}
    - layer_scale: {}
    - drop_path: {rate: 0.2, seed: 3}
  head:
    - global_avgpool
    - dense: {units: 6, activation: gelu}
    - layer_norm: {}
    - dense: {}
"""


def load(text: str, sets=None):
    return load_arch("net.yaml", text, sets)


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load(text)
    return [str(p) for p in e.value.problems]


def test_cost_rules_of_split_groups_layer_norm_scale_and_drop_path():
    spec = load(NET)
    rows = {r.name: r for r in spec.rows}
    assert rows["body.conv1"].shape == (6, 5, 16)
    # each branch sees its slice: one 3x3, 1x5 and 5x1 filter per channel of two, plus a bias each; identity: 0
    assert rows["mix"].shape == (6, 5, 16)
    assert rows["mix"].params == (9 + 5 + 5) * 2 + 3 * 2
    assert rows["mix"].macs == 6 * 5 * (9 + 5 + 5) * 2
    # 4 groups: each of the 8 filters reads 16 / 4 = 4 channels
    assert rows["body.conv2"].params == 8 * 4 + 8 and rows["body.conv2"].macs == 6 * 5 * 8 * 4
    assert rows["body.layer_scale1"].params == 8 and rows["body.layer_scale1"].shape == (6, 5, 8)
    assert rows["body.drop_path1"].params == 0 and rows["body.drop_path1"].shape == (6, 5, 8)
    assert rows["head.layer_norm1"].params == 2 * 6 and rows["head.layer_norm1"].nontrainable == 0
    drop = next(x for x in spec.stages[0].layers if x.KIND == "drop_path")
    assert (drop.rate, drop.seed) == (0.2, 3)
    mix = next(x for x in spec.stages[0].layers if x.KIND == "branch")
    assert branch_text(mix) == "mix: 10/2/2/2: id | 3x3 | 1x5 | 5x1"  # the picture's label: each slice's channels


@pytest.mark.parametrize("old, new, at, expected", [
    ("split: [10, 2, 2, 2]", "split: [9, 2, 2, 2]", "name: mix",  # the block: the shape it gets
     "mix: split [9, 2, 2, 2] gives the branches 15 channels, but the block gets 6x5x16"),
    ("split: [10, 2, 2, 2]", "split: [10, 2, 2]", "split:", "3 slices for 4 branches: give one per branch"),
    ("split: [10, 2, 2, 2]", "split: [10, 2, 2, 0]", "split:",
     "expected a list of integers > 0 ([24, 8, 8, 8]), got [10, 2, 2, 0]"),
    ("kernel: 1, groups: 4", "kernel: 1, groups: 3", "groups: 3",
     "3 groups must divide the 16 input channels and the 8 filters"),
])
def test_split_and_groups_mistakes_name_the_line(old, new, at, expected):
    text = NET.replace(old, new)
    line = next(i for i, x in enumerate(text.splitlines(), 1) if at in x)
    got = errors(text)
    assert len(got) == 1 and expected in got[0] and got[0].startswith(f"net.yaml:{line}:"), got


@pytest.mark.parametrize("variant, params, blocks, bn", [
    ("atto", 4_156_520, (2, 2, 6, 2), (40, 80, 160, 320)),
    ("tiny", 28_055_680, (3, 3, 9, 3), (96, 192, 384, 768)),
    ("small", 49_374_016, (3, 3, 27, 3), (96, 192, 384, 768)),
    ("base", 86_672_136, (3, 3, 27, 3), (128, 256, 512, 1024))])
def test_inception_next_counts_timms_parameters(variant, params, blocks, bn):
    """timm 1.0.31's parameter counts (tools/reference/timm_next.py prints them; the fixtures hold them), and
    BatchNorm's running statistics: the stem's, one per block and one before each downsample."""
    spec = load_arch(os.path.join(ROOT, "arch", f"inception_next_{variant}.yaml"))
    assert spec.trainable_params == params
    channels = bn[0] + sum(n * c for n, c in zip(blocks, bn)) + sum(bn[:3])
    assert spec.params - spec.trainable_params == 2 * channels


@pytest.mark.parametrize("variant", ["atto", "tiny", "small", "base"])
def test_imagenet_variants_normalize_as_timms_pretrained_cfg(variant):
    """arch/inception_next_*_imagenet.yaml: timm's network with the mean and std every pretrained tag of it declares
    (recorded in the fixture by tools/reference/timm_next.py), naming those tags in its comment."""
    import numpy as np

    path = os.path.join(ROOT, "arch", f"inception_next_{variant}_imagenet.yaml")
    spec = load_arch(path)
    fixture = os.path.join(ROOT, "tests", "fixtures", f"timm_inception_next_{variant}_224.npz")
    with np.load(fixture, allow_pickle=False) as z:
        mean, std, tags = z["cfg.mean"], z["cfg.std"], [str(t).split()[0] for t in z["cfg.tags"]]
        params = int(z["params"])
    assert spec.normalize.per_channel(3) == (tuple(mean.tolist()), tuple(std.tolist()))
    assert spec.trainable_params == params
    with open(path, encoding="utf-8") as f:
        head = f.read().split("extends:")[0]
    assert tags and all(f"`{t}`" in head for t in tags)

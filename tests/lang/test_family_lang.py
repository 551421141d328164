"""The constructs of the Inception family in the YAML language (issue 22 item 1): non-square kernels and
per-axis padding, branch blocks (nested, identity, add, residual with scale and shortcut), sepconv, BatchNorm
without scale, templates with parameters and `repeat` -- their costs, their Keras models, their error messages
(file, YAML path, line) -- and the worked example arch/googlenet_5x5_as_3x3.yaml."""
from __future__ import annotations

import os

import numpy as np
import pytest

from inception_keras.errors import ConfigError
from inception_keras.lang.parse import load_arch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NET = """name: t
input: [20, 20, 3]
classes: 4
defaults: {use_bias: false, batch_norm: true, bn_scale: false}
templates:
  blk:
    params: {pool: null, scale: 0.5}
    layer:
      branch:
        branches:
          - []
          - [conv: {filters: 6, kernel: [1, 5]}, conv: {filters: 6, kernel: [5, 1], padding: [2, 0]}]
          - - conv: {filters: 4, kernel: 1}
            - branch: {branches: [[conv: {filters: 2, kernel: [1, 3]}], [conv: {filters: 2, kernel: [3, 1]}]]}
          - [avgpool: {size: 3, stride: 1}, conv: {filters: $pool, kernel: 1}]
        then: [conv: {filters: 8, kernel: 1, use_bias: true, batch_norm: false, activation: linear}]
        residual: true
        scale: $scale
        activation: relu
stages:
  stem:
    - conv: {filters: 8, kernel: 3, stride: [2, 1], padding: [1, 0]}
  body:
    - blk: {name: r, pool: 3, repeat: 2}
    - branch:
        name: x
        branches: [[sepconv: {filters: 16, kernel: 3}, maxpool: {size: 3, stride: 2}]]
        residual: true
        shortcut: [conv: {filters: 16, kernel: 1, stride: 2, activation: linear}]
  head:
    - global_avgpool
    - dense: {}
"""


def load(text: str, sets=None):
    return load_arch("net.yaml", text, sets)


def errors(text: str, sets=None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load(text, sets)
    return [str(p) for p in e.value.problems]


def test_costs_follow_the_constructs():
    spec = load(NET)
    rows = {r.name: r for r in spec.rows}
    assert rows["stem.conv1"].shape == (10, 18, 8)  # (20+2-3)//2+1, (20-3)//1+1
    assert rows["stem.conv1"].params == 3 * 3 * 3 * 8 + 8  # no gamma: beta only
    assert [r.name for r in spec.rows][1:3] == ["r_1", "r_2"]
    # branch 1 is x (8) + 6 + (2 + 2) + 3 = 21 channels into the 1x1 `then` back to 8
    blk = (5 * 8 * 6 + 6) + (5 * 6 * 6 + 6) + (8 * 4 + 4) + (3 * 4 * 2 + 2) * 2 + (8 * 3 + 3) + (21 * 8 + 8)
    assert rows["r_1"].params == blk and rows["r_1"].shape == (10, 18, 8)
    assert rows["x"].params == (9 * 8 + 8 * 16 + 16) + (8 * 16 + 16) and rows["x"].shape == (5, 9, 16)


@pytest.mark.e2e
def test_keras_model_matches_the_counts():
    from inception_keras.nn.builder import build_model

    spec = load(NET)
    model = build_model(spec)
    assert model.count_params() == spec.params
    assert model.get_layer("r_1").__class__.__name__ == "Activation"
    assert model.get_layer("r_1.sum").scale == 0.5
    assert np.isfinite(np.asarray(model(np.ones((1, 20, 20, 3), "float32")))).all()


def test_width_and_set_reach_into_templates():
    base = load(NET)
    half = load(NET, [("width", 0.5)])
    assert half.params < base.params
    scaled = load(NET, [("templates.blk.params.scale", 0.25)])
    assert [la.scale for la in scaled.stages[1].layers[:2]] == [0.25, 0.25]


@pytest.mark.parametrize("old,new,expected", [
    ("kernel: [1, 5]}", "kernel: [1, 5, 1]}",
     "net.yaml:12:41: templates.blk.layer.branch.branches[1][0].conv.kernel: expected an integer > 0 or [height, "
     "width] of integers > 0, got [1, 5, 1] (in the use at stages.body[0].blk, net.yaml:24:12)"),
    ("padding: [2, 0]", "padding: [2, -1]",
     "net.yaml:12:94: templates.blk.layer.branch.branches[1][1].conv.padding: expected same, valid, an integer >= 0 "
     "or [height, width] of integers >= 0, got [2, -1]"
     " (in the use at stages.body[0].blk, net.yaml:24:12)"),
    ("filters: $pool", "filters: $pol",
     "net.yaml:15:61: templates.blk.layer.branch.branches[3][1].conv.filters: '$pol' is no parameter of template "
     "'blk'; did you mean 'pool'? (params: pool, scale)"),
    ("- blk: {name: r, pool: 3, repeat: 2}", "- blk: {name: r, pol: 3}",
     "net.yaml:24:22: stages.body[0].blk.pol: unknown parameter 'pol' of template 'blk'; did you mean 'pool'? "
     "(known: name, repeat, pool, scale)"),
    ("- blk: {name: r, pool: 3, repeat: 2}", "- blk: {name: r, repeat: 0, pool: 1}",
     "net.yaml:24:30: stages.body[0].blk.repeat: expected an integer > 0, got 0"),
    ("- []", "- [maxpool: {size: 3, stride: 2}]",
     "net.yaml:10:9: templates.blk.layer.branch: r_1: the branches give 5x9x8, 10x18x6, "
     "10x18x4, 10x18x3, which do not concat (a concat needs the same height and width, an add the same shape)"
     " (in the use at stages.body[0].blk, net.yaml:24:12)"),
])
def test_mistakes_name_file_path_and_line(old, new, expected):
    """Each mistake once, at its line; one inside a template's layer also names the use it was expanded for."""
    assert old in NET
    got = errors(NET.replace(old, new))
    where = expected.split(": ")[1]
    assert expected in got and [g.split(": ")[1] for g in got].count(where) == 1, got


def test_residual_shape_mismatch_and_missing_param():
    got = errors(NET.replace("filters: 16, kernel: 1, stride: 2", "filters: 12, kernel: 1, stride: 2"))
    assert any("the residual sum needs the same shape on both sides, but the branches give 5x9x16 and the "
               "shortcut 5x9x12" in g for g in got), got
    got = errors(NET.replace("pool: 3, repeat: 2", "repeat: 2"))
    assert "net.yaml:24:12: stages.body[0].blk: template 'blk' needs parameter 'pool'" in got


@pytest.mark.e2e
def test_worked_example_5x5_as_two_3x3():
    """GoogLeNet's block 3a with its 5x5 branch as two 3x3 convolutions: the same output, the parameters of two
    3x3 convs in place of one 5x5, and a Keras model with those parameters."""
    from inception_keras.nn.builder import build_model

    base = load_arch(os.path.join(ROOT, "arch", "googlenet.yaml"))
    variant = load_arch(os.path.join(ROOT, "arch", "googlenet_5x5_as_3x3.yaml"))
    rows = {r.name: r for r in variant.rows}
    old = {r.name: r for r in base.rows}
    assert rows["3a"].kind == "branch" and rows["3a"].shape == old["3a"].shape
    assert variant.params - base.params == (16 * 9 * 32 + 32 + 32 * 9 * 32 + 32) - (16 * 25 * 32 + 32)
    model = build_model(variant)
    assert model.count_params() == variant.params
    assert model.get_layer("3a").output.shape[1:] == old["3a"].shape


@pytest.mark.parametrize("name", ["inception_v3", "inception_v4", "inception_resnet_v2", "xception"])
def test_resolved_configuration_reads_back(name):
    """A run's config.yaml holds the architecture resolved (templates filled in, nested branches written out);
    read back, it is the same network with the same layer names."""
    import yaml

    spec = load_arch(os.path.join(ROOT, "arch", f"{name}.yaml"))
    again = load_arch("config.yaml", yaml.safe_dump(spec.config, sort_keys=False))
    assert again.stages == spec.stages and again.params == spec.params


def test_a_branch_that_vanishes_names_the_block_and_branch():
    with pytest.raises(ConfigError) as e:
        load_arch(os.path.join(ROOT, "arch", "inception_v3.yaml"), sets=[("input", [73, 73, 3])])
    assert ("templates.reduction_b.layer.branch: mixed8: the feature map vanishes in branch 1 (0x0x320 from the "
            "2x2x768 map it gets)") in str(e.value)

"""The architecture language beyond single files: `extends`, per-kind defaults, `width`, the resolved
configuration that config.yaml stores (issue: one declaration per concept)."""
from __future__ import annotations

import os

import pytest
from conftest import ROOT, cli

from inception_keras.errors import ConfigError
from inception_keras.lang.kinds import LAYER_KINDS, Inception
from inception_keras.lang.options import options
from inception_keras.lang.parse import load_arch, parse_arch
from inception_keras.lang.reader import Document

ARCH = os.path.join(ROOT, "arch")
PAPER = os.path.join(ARCH, "googlenet_paper.yaml")
BN = os.path.join(ARCH, "googlenet_bn.yaml")

# googlenet_bn.yaml as it was written out in full before it extended the paper's file: `git show
# 7966a9a:arch/googlenet_bn.yaml`, stored as a fixture so that a shallow clone or a source archive runs the test.
FLAT_BN = os.path.join(ROOT, "tests", "fixtures", "googlenet_bn_flat_7966a9a.yaml")


def flat_bn_text() -> str:
    with open(FLAT_BN, encoding="utf-8") as f:
        return f.read()


def test_bn_variant_extends_the_paper_and_equals_its_full_form():
    flat = load_arch("flat_bn.yaml", text=flat_bn_text())
    bn = load_arch(BN)
    assert bn.trainable_params == flat.trainable_params == 6_624_904
    assert bn.params == flat.params == 6_639_464
    assert bn.macs == flat.macs
    # every conv and block up to 5b is the same, key for key; the pools are now declared as torchvision's
    # (ceil_mode, no padding), which at 224x224 gives the same output sizes as the full form's "same" pools
    for stage in ("b1", "b2", "b3", "b4", "b5"):
        ours, theirs = bn_stage(bn, stage), bn_stage(flat, stage)
        assert [x for x in ours if x.BLOCK or x.KIND == "conv"] == [x for x in theirs if x.BLOCK or x.KIND == "conv"]
        assert [(x.size, x.stride, x.ceil_mode) for x in ours if x.KIND == "maxpool"] == \
            [(x.size, x.stride, True) for x in theirs if x.KIND == "maxpool"]
    main = [r for r in bn.rows if not r.aux]
    assert [r.shape for r in main[:-4]] == [r.shape for r in flat.rows[:-3]]
    assert all(b.kernel_5x5 == 3 and b.batch_norm and not b.use_bias
               for s in bn.stages for b in s.layers if isinstance(b, Inception))
    # the end is torchvision's: adaptive 1x1 pool, flatten, dropout 0.2, fc
    assert [r.kind for r in bn.rows if not r.aux][-4:] == ["adaptive_avgpool", "flatten", "dropout", "dense"]
    assert bn.stages[-1].layers[1].rate == 0.2
    # and it declares torchvision's auxiliary heads, which the full form left out, in fewer lines
    assert [h.after for h in bn.aux_heads] == ["4a", "4d"]
    assert len(open(BN).read().splitlines()) < 0.6 * len(flat_bn_text().splitlines())


def bn_stage(spec, name):
    (stage,) = [s for s in spec.stages if s.name == name]
    return list(stage.layers)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


BASE = """\
name: base
input: [32, 32, 3]
classes: 10
defaults:
  activation: relu
stages:
  b1:
    - conv: {filters: 16, kernel: 3, stride: 2}
    - maxpool: {size: 3, stride: 2}
    - conv: {filters: 24, kernel: 3}
  b2:
    - inception: {name: 2a, 1x1: 8, 3x3_reduce: 8, 3x3: 8, 5x5_reduce: 4, 5x5: 8, pool_proj: 8}
    - inception: {name: 2b, 1x1: 8, 3x3_reduce: 8, 3x3: 8, 5x5_reduce: 4, 5x5: 8, pool_proj: 8}
    - global_avgpool
  head:
    - dropout: {rate: 0.4}
    - dense: {}
"""


def test_extends_merges_by_stage_and_layer_name(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", """\
extends: base.yaml
name: child
defaults:
  inception: {5x5_kernel: 3, pool: avg}
stages:
  b1:
    maxpool1: null                   # removed
    conv2: {filters: 32}             # changed
  b2:
    2b: {pool_proj: 16}
  head:
    dropout1: {batch_norm: {}}       # batch_norm is a key of no dropout: a layer of another kind
  extra:
    - dropout: {rate: 0.1}
""")
    spec = load_arch(child)
    assert spec.name == "child" and spec.input == (32, 32, 3)
    b1 = bn_stage(spec, "b1")
    assert [type(x).KIND for x in b1] == ["conv", "conv"]
    assert b1[1].filters == 32 and b1[1].kernel == 3 and b1[1].name == "b1.conv2"
    blocks = bn_stage(spec, "b2")[:2]
    assert [(b.kernel_5x5, b.pool_type, b.pool_proj) for b in blocks] == [(3, "avg", 8), (3, "avg", 16)]
    assert [type(x).KIND for x in bn_stage(spec, "head")] == ["batch_norm", "dense"]
    assert [s.name for s in spec.stages] == ["b1", "b2", "head", "extra"]
    # the base file is unchanged by being extended
    assert load_arch(str(tmp_path / "base.yaml")).stages[0].layers[1].KIND == "maxpool"


@pytest.mark.e2e
def test_errors_in_an_extended_file_name_the_file_and_line_where_they_are(tmp_path):
    base = write(tmp_path, "base.yaml", BASE.replace("{filters: 24, kernel: 3}", "{filters: 24, kernel: 3, "
                                                                                  "stride: two}"))
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nname: child\nstages:\n  b2:\n    2a: {3x3: -1}\n")
    with pytest.raises(ConfigError) as info:
        load_arch(child)
    assert [str(p) for p in info.value.problems] == [
        f"{base}:10:46: stages.b1[2].conv.stride: expected an integer > 0, got 'two' (a string)",
        f"{child}:5:15: stages.b2[0].inception.3x3: expected an integer > 0, got -1"]
    r = cli("summary", child)
    assert r.returncode == 2 and "Traceback" not in r.stderr and f"{child}:5:15" in r.stderr


EXTEND_ERRORS = [
    ("unknown layer", "extends: base.yaml\nstages:\n  b1: {maxpool9: null}\n",
     "child.yaml:3:8: stages.b1.maxpool9: no layer 'maxpool9' in stage b1 of BASE (layers: conv1, maxpool1, "
     "conv2)"),
    ("new stage as a mapping", "extends: base.yaml\nstages:\n  b9: {conv1: null}\n",
     "child.yaml:3:3: stages.b9: no stage 'b9' in BASE to change; a new stage is a list of layers"),
    ("missing base", "extends: nowhere.yaml\n", "child.yaml:1:10: extends: no architecture file DIR/nowhere.yaml"),
    ("not a path", "extends: [base.yaml]\n", "child.yaml:1:10: extends: expected the path of an architecture "
                                             "file, got a list"),
    ("cycle", "extends: child.yaml\n", "child.yaml:1:10: extends: child.yaml extends this file again (a cycle)"),
    ("bad edit", "extends: base.yaml\nstages:\n  b1: {conv1: 3}\n",
     "child.yaml:3:15: stages.b1.conv1: expected the keys to change in conv1 (a mapping), null to remove it, or "
     "a layer of another kind or a template use; got 3"),
]


@pytest.mark.parametrize("text,expected", [e[1:] for e in EXTEND_ERRORS], ids=[e[0] for e in EXTEND_ERRORS])
def test_extends_errors(tmp_path, text, expected):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_arch(child)
    got = str(info.value).replace(str(tmp_path / "base.yaml"), "BASE").replace(str(tmp_path), "DIR")
    assert got == f"DIR/{expected}" if not expected.startswith("DIR") else got == expected


def test_per_kind_defaults_come_between_the_layer_and_the_global_defaults(tmp_path):
    path = write(tmp_path, "k.yaml", BASE.replace("  activation: relu\n", "  activation: relu\n  use_bias: true\n"
                                                  "  conv: {activation: elu, use_bias: false}\n  inception: "
                                                  "{activation: tanh}\n").replace(
        "{filters: 24, kernel: 3}", "{filters: 24, kernel: 3, activation: selu}"))
    spec = load_arch(path)
    convs = [x for x in bn_stage(spec, "b1") if x.KIND == "conv"]
    assert [(c.activation, c.use_bias) for c in convs] == [("elu", False), ("selu", False)]
    assert all(b.activation == "tanh" and b.use_bias for b in bn_stage(spec, "b2")[:2])
    bad = write(tmp_path, "bad.yaml", BASE.replace("  activation: relu\n", "  conv: {filter: 3}\n  convs: {}\n"))
    with pytest.raises(ConfigError) as info:
        load_arch(bad)
    messages = [p.message for p in info.value.problems]
    assert messages[0].startswith("unknown key 'convs' in defaults; did you mean 'conv'?")
    assert messages[1].startswith("unknown key 'filter' in defaults for conv; did you mean 'filters'?")


@pytest.mark.e2e
def test_width_multiplies_channels(tmp_path):
    half = load_arch(write(tmp_path, "half.yaml", BASE + "width: 0.5\n"))
    full = load_arch(write(tmp_path, "full.yaml", BASE))
    assert [x.filters for x in bn_stage(half, "b1") if x.KIND == "conv"] == [8, 12]
    assert bn_stage(half, "b2")[0].n5x5_reduce == 2 and bn_stage(half, "b2")[0].out_channels == 16
    assert half.stages[-1].layers[-1].units == 10  # the logits are the classes, not scaled
    assert half.params < full.params / 2.5
    tiny = load_arch(write(tmp_path, "tiny.yaml", BASE + "width: 0.01\n"))
    assert min(x.filters for x in bn_stage(tiny, "b1") if x.KIND == "conv") == 1  # at least one channel
    import inception_keras as ik

    assert ik.build_model(half).count_params() == half.params


@pytest.mark.parametrize("name", ["googlenet.yaml", "googlenet_paper.yaml", "googlenet_bn.yaml"])
def test_resolved_configuration_fills_every_key_and_reads_back_the_same(name):
    spec = load_arch(os.path.join(ARCH, name))
    config = spec.config
    assert "extends" not in config and config["width"] == 1.0
    assert set(config["defaults"]) == {o.key for o in options(type_defaults())}
    for stage in config["stages"].values():
        for item in stage:
            (kind, keys), = item.items()
            assert list(keys) == [o.key for o in options(LAYER_KINDS[kind])]  # every key, none left out
    again = parse_arch(Document("config.yaml", config))
    assert again.stages == spec.stages and again.aux_heads == spec.aux_heads and again.rows == spec.rows
    assert again.config == config


def type_defaults():
    from inception_keras.lang.arch import Defaults

    return Defaults


def test_paper_heads_share_one_declaration():
    spec = load_arch(PAPER)
    aux1, aux2 = spec.aux_heads
    assert (aux1.after, aux2.after) == ("4a", "4d") and aux1.loss_weight == aux2.loss_weight == 0.3
    assert [x.KIND for x in aux1.layers] == [x.KIND for x in aux2.layers] == ["avgpool", "conv", "flatten", "dense",
                                                                              "dropout", "dense"]
    assert aux2.layers[1].name == "aux2.conv1"
    assert spec.config["aux_heads"]["aux2"]["layers"][3] == spec.config["aux_heads"]["aux1"]["layers"][3]

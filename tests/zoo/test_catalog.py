"""Names for the shipped files (lang/catalog), a backbone without a head (lang/backbone), and the list of what
ships (zoo/listing), without TensorFlow: from any working directory, a path the user gives wins, a wrong name
gets the names and a did-you-mean."""
from __future__ import annotations

import os

import pytest
from conftest import ROOT

from inception_keras.errors import ConfigError
from inception_keras.lang import catalog
from inception_keras.lang.backbone import load_backbone
from inception_keras.lang.defaults import DEFAULT_ARCH, DEFAULT_RECIPE
from inception_keras.lang.parse import load_arch
from inception_keras.lang.recipe import load_recipe

BACKBONE = """\
name: tiny-backbone
input: [32, 32, 3]
stages:
  stem:
    - conv: {filters: 8, kernel: 3, stride: 2}
    - conv: {filters: 16, kernel: 3}
"""


def test_every_file_of_the_folders_is_a_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing here: the names come from the shipped folders
    arch = sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, "arch")) if f.endswith(".yaml"))
    assert catalog.names(catalog.ARCH) == arch
    assert "quick" in catalog.names(catalog.RECIPE)
    for ref in ("inception_v3", "inception_v3.yaml", "arch/inception_v3.yaml"):
        assert load_arch(ref).params == 23_851_784
    assert load_arch("inception_v3_imagenet").normalize is not None  # `extends:` follows to the shipped base
    assert load_recipe("quick").epochs == 3
    assert load_arch(DEFAULT_ARCH).params == 5_977_530 and load_recipe(DEFAULT_RECIPE).name  # the defaults


def test_a_path_that_exists_wins_over_a_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch" / "inception_v3.yaml").write_text(BACKBONE.replace("tiny-backbone", "mine"))
    assert load_arch("arch/inception_v3.yaml").name == "mine"
    assert load_arch("inception_v3").name == "inception-v3"  # the bare name is no file here


def test_a_name_that_matches_nothing_lists_the_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_arch("inceptoin_v3")
    assert "did you mean 'inception_v3'?" in str(e.value) and "xception_imagenet" in str(e.value)
    with pytest.raises(ConfigError, match="did you mean 'quick'"):
        load_recipe("quik")
    with pytest.raises(ConfigError, match="no_such.yaml"):  # a path stays a path: the reader's error
        load_arch("somewhere/no_such.yaml")


def test_a_backbone_needs_no_head_a_classifier_does(tmp_path):
    spec = load_arch(str(tmp_path / "b.yaml"), text=BACKBONE)
    assert spec.classes is None and spec.rows[-1].shape == (16, 16, 16)
    with pytest.raises(ConfigError, match="must end in 10 logits"):
        load_arch(str(tmp_path / "c.yaml"), text=BACKBONE + "classes: 10\n")
    with pytest.raises(ConfigError, match="dense without `units`"):
        load_arch(str(tmp_path / "d.yaml"), text=BACKBONE + "    - global_avgpool\n    - dense: {}\n")
    head = "aux_heads:\n  aux: {after: x, layers: [global_avgpool, dense: {units: 3}]}\n"
    text = BACKBONE.replace("    - conv: {filters: 16, kernel: 3}\n", "    - inception: {name: x, 1x1: 4, "
                            "3x3_reduce: 4, 3x3: 4, 5x5_reduce: 4, 5x5: 4, pool_proj: 4}\n")
    with pytest.raises(ConfigError, match="auxiliary head is a classifier"):
        load_arch(str(tmp_path / "e.yaml"), text=text + head)


@pytest.mark.parametrize("name, params, shape", [
    ("inception_v3", 21_802_784, (8, 8, 2048)),  # keras.applications.InceptionV3(include_top=False).count_params()
    ("inception_resnet_v2", 54_336_736, (8, 8, 1536)),
    ("xception", 20_861_480, (10, 10, 2048)),
    ("googlenet_bn", 5_614_464, (7, 7, 1024)),  # the head of torchvision's googlenet: dropout, fc 1,025,000
])
def test_the_backbone_drops_the_head_and_its_pool(name, params, shape):
    spec = load_backbone(name)
    assert spec.classes is None and not spec.aux_heads
    assert spec.params == params and spec.rows[-1].shape == shape
    assert load_arch(name).params - params == (load_arch(name).rows[-1].params + load_arch(name).rows[-1].nontrainable)


def test_list_has_every_network_with_its_parameters_and_presets():
    from inception_keras.zoo import listing

    nets = {n["name"]: n for n in listing.networks()}
    assert sorted(nets) == catalog.names(catalog.ARCH)
    assert nets["inception_v3"]["params"] == 23_851_784 and nets["inception_v3"]["input"] == [299, 299, 3]
    assert "keras.applications.InceptionV3" in nets["inception_v3"]["reference"]
    assert all(isinstance(n["presets"], list) for n in nets.values())
    assert {r["name"] for r in listing.recipes()} == set(catalog.names(catalog.RECIPE))

"""The command line takes names for files, from any directory: `list` (text and JSON), `summary NAME`,
`config --arch NAME --recipe NAME`, and a wrong name's one-line error (exit 2)."""
from __future__ import annotations

import json

import pytest
from conftest import cli

from inception_keras.lang import catalog

pytestmark = pytest.mark.e2e


def test_list_text_and_json_from_another_directory(tmp_path):
    text = cli("list", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    data = json.loads(cli("list", "--json", cwd=tmp_path).stdout)
    assert [n["name"] for n in data["networks"]] == catalog.names(catalog.ARCH)
    assert [r["name"] for r in data["recipes"]] == catalog.names(catalog.RECIPE)
    for net in data["networks"]:
        assert f"{net['params']:,}" in text.stdout and isinstance(net["presets"], list)
        assert all({"name", "url", "hash"} <= set(p) for p in net["presets"])


def test_commands_take_names_and_refuse_unknown_ones(tmp_path):
    r = cli("summary", "inception_v3", cwd=tmp_path)
    assert r.returncode == 0 and "total: 23,851,784 parameters" in r.stdout
    r = cli("config", "--arch", "googlenet_quick", "--recipe", "quick", cwd=tmp_path)
    assert r.returncode == 0 and "name: googlenet-quick" in r.stdout and "epochs: 3" in r.stdout
    r = cli("summary", "inceptoin_v3", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: no architecture file or name 'inceptoin_v3'; did you mean 'inception_v3'?")
    r = cli("config", "--recipe", "quik", cwd=tmp_path)
    assert r.returncode == 2 and "did you mean 'quick'" in r.stderr

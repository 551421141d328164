"""Say what it is: the package's metadata, `--help`, the package docstring and the README's first paragraph name
the Inception family, each network of which ships an architecture file (issue 31, item 9)."""
from __future__ import annotations

import os
import re

import pytest
from conftest import ROOT, cli

import inception_keras
from inception_keras.version import DESCRIPTION

# The family as the texts name it, and the architecture file of each.
FAMILY = {"GoogLeNet": "googlenet.yaml", "Inception-v3": "inception_v3.yaml", "Inception-v4": "inception_v4.yaml",
          "Inception-ResNet-v2": "inception_resnet_v2.yaml", "Xception": "xception.yaml"}


def flat(text: str) -> str:
    return " ".join(text.split())


def readme_first_paragraph() -> str:
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    after_commands = text.split("```", 2)[2]  # the title, then the make commands, then the first paragraph
    return flat(after_commands.strip().split("\n\n")[0])


def assert_names_the_family(text: str, where: str) -> None:
    missing = [name for name in FAMILY if not re.search(rf"\b{re.escape(name)}\b", text)]
    assert not missing, f"{where} does not name {missing}: {text!r}"


def test_every_network_named_ships_an_architecture_file():
    for name, file in FAMILY.items():
        assert os.path.isfile(os.path.join(ROOT, "arch", file)), (name, file)


def test_metadata_docstring_and_readme_name_the_family():
    from setuptools.config.setupcfg import read_configuration

    metadata = read_configuration(os.path.join(ROOT, "setup.cfg"))["metadata"]
    assert metadata["description"] == DESCRIPTION  # the package metadata's one line, written once more
    assert_names_the_family(metadata["description"], "setup.cfg's description")
    first = flat(inception_keras.__doc__.split("\n\n")[0])
    assert first == f"inception-keras: {DESCRIPTION[0].lower()}{DESCRIPTION[1:]}."
    readme = readme_first_paragraph()
    assert_names_the_family(readme, "README's first paragraph")
    assert not readme.startswith("GoogLeNet")


@pytest.mark.e2e
def test_help_names_the_family():
    r = cli("--help", env={"COLUMNS": "300"})  # no line breaks inside a name (argparse wraps at hyphens)
    assert r.returncode == 0, r.stderr
    assert f"{DESCRIPTION}. `inception-keras COMMAND --help` describes a command." in flat(r.stdout)
    assert_names_the_family(flat(r.stdout), "--help")

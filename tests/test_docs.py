"""The README stays true: its YAML reference is the code's own, its examples run."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT, cli


def test_yaml_reference_matches_the_code():
    """docs/yaml.md's reference is generated from the layer-kind registry and the recipe dataclasses."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import yaml_reference

    assert yaml_reference.written() == yaml_reference.reference(), \
        "docs/yaml.md's reference is stale: run python tools/yaml_reference.py --write"
    text = yaml_reference.reference()
    from inception_keras.spec import LAYER_KINDS

    assert all(f"`{kind}`: " in text for kind in LAYER_KINDS)  # every registered kind is documented


def test_readme_summary_example_is_what_summary_prints():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = readme.index("$ inception-keras summary arch/googlenet.yaml\n")
    block = readme[start:readme.index("```", start)].splitlines()[1:]
    r = cli("summary", "arch/googlenet.yaml")
    assert r.returncode == 0
    assert r.stdout.splitlines() == block


def test_ci_runs_make_test():
    assert "make test" in open(os.path.join(ROOT, ".ci", "run")).read()
    first = open(os.path.join(ROOT, "README.md")).read().split("```")[1]
    assert "make test" in first and "make train" in first
    out = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True)
    assert "pytest" in out.stdout


def test_readme_error_example_is_what_summary_prints(tmp_path):
    """The README's bad.yaml, written out and checked: the errors it shows are the ones a user gets."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme[readme.index("## Errors"):readme.index("## Runs")]
    start = section.index("```yaml\n") + len("```yaml\n")
    (tmp_path / "bad.yaml").write_text(section[start:section.index("```", start)])
    shown = section[section.index("$ inception-keras summary bad.yaml"):].splitlines()
    expected = shown[1:shown.index("exit 2")]
    r = cli("summary", "bad.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == expected

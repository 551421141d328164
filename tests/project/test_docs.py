"""The README stays true: its YAML reference is the code's own, its examples run."""
from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, cli


def test_yaml_reference_matches_the_code():
    """docs/yaml.md's reference is generated from the layer-kind registry and the recipe dataclasses."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import yaml_reference

    assert yaml_reference.written() == yaml_reference.reference(), \
        "docs/yaml.md's reference is stale: run python tools/yaml_reference.py --write"
    text = yaml_reference.reference()
    from inception_keras.lang.kinds import LAYER_KINDS

    assert all(f"`{kind}`: " in text for kind in LAYER_KINDS)  # every registered kind is documented


@pytest.mark.e2e
def test_readme_summary_example_is_what_summary_prints():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = readme.index("$ inception-keras summary arch/googlenet.yaml\n")
    block = readme[start:readme.index("```", start)].splitlines()[1:]
    r = cli("summary", "arch/googlenet.yaml")
    assert r.returncode == 0
    assert r.stdout.splitlines() == block


@pytest.mark.e2e
def test_ci_runs_make_test():
    assert "make test" in open(os.path.join(ROOT, ".ci", "run")).read()
    first = open(os.path.join(ROOT, "README.md")).read().split("```")[1]
    assert "make test" in first and "make train" in first
    out = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True)
    assert "pytest" in out.stdout


@pytest.mark.e2e
def test_readme_error_example_is_what_summary_prints(tmp_path):
    """The README's bad.yaml, written out and checked: the errors it shows are the ones a user gets."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = readme.index("## Errors")
    section = readme[start:readme.index("\n## ", start + 1)]
    start = section.index("```yaml\n") + len("```yaml\n")
    (tmp_path / "bad.yaml").write_text(section[start:section.index("```", start)])
    shown = section[section.index("$ inception-keras summary bad.yaml"):].splitlines()
    expected = shown[1:shown.index("exit 2")]
    r = cli("summary", "bad.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == expected


def test_readme_is_a_front_page():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert len(readme.splitlines()) <= 160
    for link in set(re.findall(r"\]\((docs/[^)#]+)", readme)):
        assert os.path.exists(os.path.join(ROOT, link)), link  # every document the README points to exists


@pytest.mark.e2e
def test_readme_python_example_runs(tmp_path):
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = readme.index("```python\n") + len("```python\n")
    code = readme[start:readme.index("```", start)].replace('"runs/*"', repr(str(tmp_path / "runs" / "*")))
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy\n1,2.0,0.3,1.9,0.35\n")
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    finally:
        os.chdir(cwd)
    assert namespace["spec"].classes == 5 and namespace["model"].output_shape == (None, 5)
    assert list(namespace["df"]["group"]) == ["a"] and list(namespace["df"]["n"]) == [1]


def test_results_state_what_the_code_computes():
    """docs/results.md's network figures are what `summary` computes today."""
    from inception_keras.lang.parse import load_arch

    text = open(os.path.join(ROOT, "docs", "results.md"), encoding="utf-8").read()
    seed, paper, bn = (load_arch(os.path.join(ROOT, "arch", f)) for f in ("googlenet.yaml", "googlenet_paper.yaml",
                                                                          "googlenet_bn.yaml"))
    for figure in (seed.params, paper.params, paper.params_with_aux, bn.trainable_params, bn.params,
                   sum(r.params for r in bn.rows)):
        assert f"{figure:,}" in text, figure
    lines = len(open(os.path.join(ROOT, "arch", "googlenet_bn.yaml")).read().splitlines())
    assert f"{lines} lines with torchvision's aux heads" in text


def test_cli_reference_matches_the_parser():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import cli_reference

    written = open(cli_reference.DOC, encoding="utf-8").read()
    assert written == cli_reference.reference(), "docs/cli.md is stale: run python tools/cli_reference.py --write"


def test_every_option_is_described():
    """No option without help text; the defaults are shown by the formatter."""
    import argparse

    from inception_keras.cli.app import parser

    p = parser()
    (sub,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in sub.choices.items():
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    text = sub.choices["evaluate"].format_help()
    assert "(default: 256)" in text


def test_claims_table_names_tests_that_exist():
    """docs/claims.md maps each claim to its test: every test (and test file) it names is defined in tests/."""
    text = open(os.path.join(ROOT, "docs", "claims.md"), encoding="utf-8").read()
    sources = {os.path.basename(path): open(path, encoding="utf-8").read()
               for path in glob.glob(os.path.join(ROOT, "tests", "**", "*.py"), recursive=True)}
    for name in set(re.findall(r"\b(test_\w+)\.py\b", text)):
        assert f"{name}.py" in sources, name
    defined = set(re.findall(r"^def ((?:test_|check_)\w+)", "\n".join(sources.values()), re.M))
    named = set(re.findall(r"(?<![\w.])((?:test_|check_)\w+)(?!\w*\.py)", text))
    assert len(named) > 40
    missing = {n for n in named if n not in defined and not any(d.startswith(n) for d in defined if n.endswith("_"))}
    assert not missing, missing  # a name ending in _ stands for the tests it begins (test_torchvision_*)

"""Templates at the command line (issue 32 item 6, issue 33 item 2): a cyclic template file and a file of
10^9 layers end in one `error:` line, exit 2, no traceback; the derived InceptionV3 of docs/yaml.md prints
the parameters the language computes."""
from __future__ import annotations

import os

import pytest
from conftest import ROOT, cli

from inception_keras.lang.templates import MAX_LAYERS

pytestmark = pytest.mark.e2e

CYCLE = """name: t
input: [8, 8, 3]
classes: 2
templates:
  block_a:
    layer: {branch: {branches: [[block_b: {}]]}}
  block_b:
    layer: {branch: {branches: [[conv: {filters: 2, kernel: 1}], [block_a: {}]]}}
stages:
  s:
    - block_a: {name: a}
    - global_avgpool
    - dense: {}
"""

BOMB = """name: t
input: [8, 8, 3]
classes: 2
templates:
  inner:
    layer: {conv: {filters: 2, kernel: 1}}
  mid:
    layer: {branch: {branches: [[inner: {repeat: 1000}]]}}
  outer:
    layer: {branch: {branches: [[mid: {repeat: 1000}]]}}
stages:
  s:
    - outer: {name: o, repeat: 1000}
    - global_avgpool
    - dense: {}
"""


@pytest.mark.parametrize("text,message", [
    (CYCLE, "cyclic.yaml:8:67: templates.block_b.layer.branch.branches[1][0].block_a: template cycle: block_a -> "
            "block_b -> block_a"),
    (BOMB, f"cyclic.yaml:13:14: stages.s[0].outer: this use of template 'outer' makes more than {MAX_LAYERS:,} "
           f"layers"),
])
def test_summary_of_a_hostile_template_file_is_one_error(tmp_path, text, message):
    path = tmp_path / "cyclic.yaml"
    path.write_text(text)
    got = cli("summary", path, timeout=120)
    lines = got.stderr.strip().splitlines()
    assert got.returncode == 2 and len(lines) == 1 and "Traceback" not in got.stderr, got.stderr
    assert lines[0].startswith("error: ") and message in lines[0], lines


def test_summary_of_the_widened_inception_v3():
    from inception_keras.lang.parse import load_arch

    expected = load_arch(os.path.join(ROOT, "arch", "inception_v3_wide_mixed5.yaml")).params
    got = cli("summary", "arch/inception_v3_wide_mixed5.yaml")
    assert got.returncode == 0, got.stderr
    assert f"total: {expected:,} parameters" in got.stdout

"""Every input is read bounded and without blocking, and every bad one is a clear error with exit 2
(issue: nothing lost, nothing hangs)."""
from __future__ import annotations

import os
import time

import pytest
from conftest import ROOT, cli

from inception_keras.errors import ConfigError
from inception_keras.lang.overrides import parse_sets
from inception_keras.lang.parse import load_arch

SEED = os.path.join(ROOT, "arch", "googlenet.yaml")


def alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


BAD_FILES = [
    ("alias bomb", alias_bomb(), "bad.yaml:1:37: more than 100,000 values with aliases expanded; refused"),
    ("deep nesting", "x: " + "[" * 2000 + "]" * 2000 + "\n",
     "bad.yaml: invalid YAML: nested too deeply (more than 100 levels are refused)"),
    ("nesting past the bound", "x: " + "[" * 300 + "]" * 300 + "\n",
     "bad.yaml:1:104: nested more than 100 levels deep"),
    ("huge integer", "x: " + "9" * 5000 + "\n", "bad.yaml:1:4: cannot read this value: Exceeds the limit (4300 "
                                                 "digits) for integer string conversion: value has 5000 digits"),
    ("large file", "x: [" + ",".join(["1"] * 600_000) + "]\n",
     "bad.yaml: architecture file is 1,200,005 bytes, more than the 1,048,576 bytes such a file may have"),
]


@pytest.mark.parametrize("text,expected", [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES])
def test_bad_yaml_is_refused_quickly(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_arch(str(path))
    assert time.perf_counter() - start < 10
    assert str(info.value).replace(str(path), "bad.yaml") == expected


@pytest.mark.e2e
def test_devices_and_pipes_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        r = cli("summary", path, timeout=60)  # a blocking open of a FIFO without a writer would hang here
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert r.stderr.strip() == f"error: {path}: architecture file is not a regular file (a pipe, device or socket)"


SET_ERRORS = [
    ("a..b=1", "--set: a..b: expected a dotted path of names like optimizer.learning_rate or "
               "stages.b1[0].conv.filters"),
    ("x=" + "[" * 300 + "]" * 300, "--set: x: cannot read the value '" + "[" * 57 + "...': nested more than 100 "
                                   "levels deep"),
    ("seed=" + "9" * 5000, "--set: seed: cannot read the value '" + "9" * 57 + "...': cannot read this value: "
                           "Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits"),
]


@pytest.mark.parametrize("item,expected", SET_ERRORS, ids=["empty key part", "deep", "huge integer"])
def test_bad_set_values(item, expected):
    with pytest.raises(ConfigError) as info:
        parse_sets([item])
    assert str(info.value) == expected


def test_every_bad_set_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        parse_sets(["a..b=1", "epochs=2", "=3"])
    assert [p.path for p in info.value.problems] == ["a..b", ""]


@pytest.mark.parametrize("item,expected", [
    ("seed=-1", "seed: expected an integer >= 0, got -1"),
    ("seed=4294967296", "seed: expected an integer >= 0 up to 4294967295, got 4294967296"),
    ("cpu_devices=100000", "cpu_devices: expected an integer >= 0 up to 64, got 100000"),
    ("arch.stages.b1[0].conv.filters=1000000000000", "stages.b1[0].conv.filters: expected an integer > 0 up to "
                                                     "65536, got 1000000000000"),
])
@pytest.mark.e2e
def test_values_the_runtime_cannot_take_exit_2(item, expected, tmp_path):
    r = cli("train", "--set", item, "--run-dir", tmp_path / "run")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert expected in r.stderr and f"(from --set {item})" in r.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.e2e
def test_summary_says_when_the_weights_outgrow_this_machine(tmp_path):
    path = tmp_path / "huge.yaml"
    text = open(SEED).read().replace("{filters: 192, kernel: 3}", "{filters: 65536, kernel: 3}")
    path.write_text(text.replace("- conv: {filters: 64, kernel: 1}", "- conv: {filters: 65536, kernel: 1}"))
    r = cli("summary", path)
    assert r.returncode == 0, r.stderr
    assert "GiB of float32 weights: more than this machine's" in r.stdout
    assert "more than this machine's" not in cli("summary", SEED).stdout

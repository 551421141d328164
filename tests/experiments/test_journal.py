"""Issue 33, item 5: the study journal is read through the bounded reader and checked before Optuna replays it.
Each damaged journal is one ConfigError naming the file and line (before: UnicodeDecodeError, JSONDecodeError,
TypeError, AssertionError, IsADirectoryError tracebacks, and a FIFO that hung); Hypothesis fuzzes the bytes
after a valid study and asserts that opening it is a study or a ConfigError, never another exception."""
from __future__ import annotations

import os
import shutil

import pytest
from conftest import TINY_ARCH, TINY_RECIPE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inception_keras.engine.plan import TrainOptions
from inception_keras.errors import ConfigError
from inception_keras.experiments.search import make_search, open_study

SPACE = """\
trials: 2
seeds: 1
metric: val_accuracy
sampler: {name: random, seed: 0}
fixed: {epochs: 1}
space:
  optimizer.learning_rate: {log_uniform: [0.002, 0.05]}
"""


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """A search directory whose journal Optuna wrote: the study, its attributes and one trial asked for."""
    d = tmp_path_factory.mktemp("journal")
    (d / "tiny.yaml").write_text(TINY_ARCH)
    (d / "r.yaml").write_text(TINY_RECIPE.replace("DATA", str(d)))
    (d / "space.yaml").write_text(SPACE)
    search = make_search(str(d / "space.yaml"), TrainOptions(str(d / "tiny.yaml"), str(d / "r.yaml")), str(d / "S"))
    study = open_study(search)
    study.ask()
    return d, (d / "S" / "study.journal").read_bytes()


def reopen(valid, tmp_path, journal: bytes | None, kind: str = "file"):
    d, _ = valid
    target = tmp_path / "S"
    shutil.copytree(d / "S", target)
    path = target / "study.journal"
    if kind == "file":
        path.write_bytes(journal)
    else:
        path.unlink()
        os.mkfifo(path) if kind == "fifo" else path.mkdir()
    search = make_search(str(d / "space.yaml"), TrainOptions(str(d / "tiny.yaml"), str(d / "r.yaml")), str(target))
    return open_study(search, create=False)


CASES = [  # (what is done to the valid journal, the message)
    (lambda j: j + b"\xff\xfe\x00bad\n", r"study.journal: line \d+: not UTF-8 text \(invalid start byte at byte 0\)"),
    (lambda j: j[:300] + b"\n", r"line 2: not a JSON object \("),
    (lambda j: j[:300], r"line 2: cut short \(\d+ bytes without a newline: a write that never finished\)"),
    (lambda j: j + b"[1, 2]\n", r"line \d+: a JSON list, not an object"),
    (lambda j: j + b'{"op_code": 99}\n', r"line \d+: op_code 99 is not an operation Optuna's journal knows"),
    (lambda j: j + b'{"op_code": "4"}\n', r"op_code '4' is not an operation"),
    (lambda j: j + b'{"op_code": 4}\n', r"Optuna cannot use this study journal \(KeyError"),
    (lambda j: j + b'[' * 100000 + b"\n", r"not a JSON object"),
]


@pytest.mark.parametrize("damage, message", CASES)
def test_a_damaged_journal_is_one_error_naming_the_line(valid, tmp_path, damage, message):
    with pytest.raises(ConfigError, match=message) as e:
        reopen(valid, tmp_path, damage(valid[1]))
    assert "study.journal" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("kind, message", [("fifo", "not a regular file"), ("dir", "is a directory")])
def test_a_journal_that_is_not_a_file_is_refused_without_waiting(valid, tmp_path, kind, message):
    with pytest.raises(ConfigError, match=message):
        reopen(valid, tmp_path, None, kind)


def test_the_valid_journal_still_opens(valid, tmp_path):
    assert len(reopen(valid, tmp_path, valid[1]).trials) == 1


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(cut=st.integers(0, 4000), tail=st.binary(max_size=300), newline=st.booleans())
def test_fuzzed_journals_open_or_are_one_config_error(valid, tmp_path_factory, cut, tail, newline):
    journal = valid[1][:cut] + tail + (b"\n" if newline else b"")
    try:
        study = reopen(valid, tmp_path_factory.mktemp("fuzz"), journal)
    except ConfigError as e:
        assert "study.journal" in str(e)
    else:
        assert isinstance(len(study.trials), int)

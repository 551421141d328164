"""The command line's arguments: defaults from plan.py, choices from the recipe schema, every bad --set at once."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT, cli

from inception_keras.cli.app import parser
from inception_keras.lang.defaults import DEFAULT_ARCH, DEFAULT_RECIPE
from inception_keras.lang.recipe import PRECISIONS, STRATEGIES


def test_defaults_and_choices_come_from_plan_and_the_schema(monkeypatch):
    p = parser()
    train, bench, evaluate = p.parse_args(["train"]), p.parse_args(["bench"]), p.parse_args(["evaluate", "run"])
    assert train.arch == bench.arch == DEFAULT_ARCH == "arch/googlenet.yaml"
    assert train.recipe == bench.recipe == DEFAULT_RECIPE == "train/fashion_mnist.yaml"
    assert evaluate.recipe is None  # a run directory's own recipe, DEFAULT_RECIPE for a bare model file
    assert [p.parse_args(["train", "--strategy", s]).strategy for s in STRATEGIES] == list(STRATEGIES)
    assert [p.parse_args(["bench", "--precision", s]).precision for s in PRECISIONS] == list(PRECISIONS)
    monkeypatch.delenv("INCEPTION_KERAS_RUNS", raising=False)
    assert parser().parse_args(["train"]).runs_root == "runs"
    monkeypatch.setenv("INCEPTION_KERAS_RUNS", "/srv/runs")
    assert parser().parse_args(["train"]).runs_root == "/srv/runs"


@pytest.mark.e2e
def test_summary_reports_every_bad_set():
    r = cli("summary", "arch/googlenet.yaml", "--set", "classes", "--set", "defaults.batch_norm=true",
            "--set", "=3")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == ["error: 2 errors in --set:", "--set: expected key=value, got 'classes'",
                                     "--set: expected key=value, got '=3'"]


@pytest.mark.e2e
def test_bad_choice_exits_2_with_the_choices():
    r = cli("train", "--strategy", "tpu")
    assert r.returncode == 2
    assert "invalid choice: 'tpu' (choose from 'auto', 'one_device', 'mirrored', 'multi_worker_mirrored')" in r.stderr
    r = cli("bench", "--precision", "fp16")
    assert r.returncode == 2
    assert "(choose from 'float32', 'mixed_bfloat16', 'mixed_float16', 'auto')" in r.stderr


@pytest.mark.e2e
def test_config_prints_what_train_writes_without_tensorflow(tiny):
    """`config` resolves the files, --set and the data flags as `train` does: its output is the run's config.yaml
    (below the comment line), and it neither imports TensorFlow nor writes anything."""
    flags = ["--arch", tiny["arch"], "--recipe", tiny["recipe"], "--set", "epochs=1", "--set",
             "arch.defaults.batch_norm=true", "--limit", "64"]
    code = ("import sys\nfrom inception_keras.cli import main\nrc = main(sys.argv[1:])\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules, rc, file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code, "config", *flags], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=ROOT), cwd=tiny["tmp"])
    assert r.stderr.strip().splitlines()[-1] == "False False 0", r.stderr
    assert sorted(os.listdir(tiny["tmp"])) == ["data", "recipe.yaml", "tiny.yaml"]
    run = tiny["tmp"] / "run"
    t = cli("train", *flags, "--run-dir", run)
    assert t.returncode == 0, t.stderr
    written = (run / "config.yaml").read_text().split("\n", 1)
    assert written[0].startswith("# resolved configuration") and written[1] == r.stdout
    assert "batch_norm: true" in r.stdout and "limit: 64" in r.stdout
    bad = cli("config", *flags, "--set", "epochz=2")
    assert bad.returncode == 2 and "did you mean 'epochs'" in bad.stderr and "Traceback" not in bad.stderr

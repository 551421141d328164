"""tools/gpu_check.py's seed study: the statistics it reports from the runs' JSON lines (the runs themselves need
a GPU, or minutes of CPU: `python tools/gpu_check.py seeds --size 32 --limit 512 ...`, see docs/performance.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "tools"))
import gpu_check  # noqa: E402


def run(seed, epoch, acc):
    return {"what": "seed-run", "seed": seed, "epoch": epoch, "val_accuracy": acc, "loss": 1.0}


@pytest.mark.e2e
def test_study_per_epoch_against_the_reference(tmp_path):
    records = [run(0, 1, 0.80), run(1, 1, 0.82), run(2, 1, 0.78), run(0, 2, 0.86), run(1, 2, 0.88),
               {"what": "seed-run", "seed": 2, "step": "data", "seconds": 1.0},  # not an epoch
               {"what": "seed-run", "seed": 2, "error": "stopped at the deadline (300 s)"},
               {"what": "ours", "val_accuracy": 0.1}]  # another step's figures
    one, two = gpu_check.study(records, 0.875)
    assert (one["epoch"], one["n"], one["seeds"]) == (1, 3, [0, 1, 2])
    assert one["mean"] == 0.8 and one["sd"] == 0.02  # deviations 0, +0.02, -0.02: sqrt(0.0008 / 2)
    assert (one["min"], one["max"], one["seeds_at_or_above_reference"]) == (0.78, 0.82, 0)
    assert one["mean_minus_reference"] == -0.075 and one["reference_in_sd"] == 3.75  # 0.075 / 0.02
    assert (two["n"], two["mean"], two["seeds_at_or_above_reference"]) == (2, 0.87, 1)
    assert (two["sd"], two["min"], two["max"]) == (0.0141, 0.86, 0.88)  # sqrt(2 * 0.01 ** 2 / 1), 4 places
    # the same from a gpu.jsonl, as `summarize` reads it (log lines that are not JSON are skipped)
    path = tmp_path / "gpu.jsonl"
    path.write_text("keras 3.15.1 jax\n" + "".join(json.dumps(r) + "\n" for r in records))
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gpu_check.py"), "summarize", "--jsonl",
                          str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [json.loads(line) for line in out.stdout.splitlines()] == [one, two]


def test_seed_lists():
    assert gpu_check.seed_list("0..9") == list(range(10)) and gpu_check.seed_list("3,5") == [3, 5]

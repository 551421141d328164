"""tools/bench_family.py's table: ratios of the configurations measured in the same rounds, n/a for what was
not measured (timm without its venv). The speeds themselves are measured, never asserted."""
import os
import sys

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench_family  # noqa: E402


def test_the_table_gives_ratios_and_marks_what_was_not_measured():
    rates = {"train keras.applications": 4.0, "train ours": 5.0, "infer keras.applications": 20.0,
             "infer ours": 20.0, "infer ours folded": 25.0, "infer ours bfloat16": 60.0}
    row = bench_family.table({"Xception": rates}).splitlines()[-1]
    assert row == "| Xception | 1.25x | 1.00x | 1.25x | 3.00x | n/a | n/a |"
    rates.update({"train timm": 2.5, "infer timm": 50.0})
    assert bench_family.table({"Xception": rates}).splitlines()[-1].endswith("| 0.50x | 2.00x |")

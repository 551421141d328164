"""`inception-keras bench` runs and reports sane figures (speed itself is measured, never asserted)."""
from __future__ import annotations

import json

import pytest
from conftest import cli

pytestmark = pytest.mark.e2e


def test_bench_reports_synthetic_and_real_throughput(tiny):
    out = tiny["tmp"] / "bench.json"
    recipe = tiny["tmp"] / "augmented.yaml"  # the real pipeline augments as training does; label smoothing: one-hot
    recipe.write_text(open(tiny["recipe"]).read() + "label_smoothing: 0.1\naugment: {flip: true, translate: 0.1}\n")
    r = cli("bench", "--arch", tiny["arch"], "--recipe", recipe, "--data", "both", "--batch", "32",
            "--steps", "4", "--windows", "3", "--warmup", "2", "--precision", "float32", "--json", out,
            "--set", "augment.color.brightness=0.2")
    assert r.returncode == 0, r.stderr
    figures = json.loads(out.read_text())
    assert figures["arch"] == "tiny" and figures["batch"] == 32 and figures["precision"] == "float32"
    assert figures["params"] == 728 and figures["backend"] == "tensorflow"
    synthetic, real = figures["results"]
    assert (synthetic["data"], real["data"]) == ("synthetic", "real")
    for result in (synthetic, real):
        assert result["images_per_second"] > 0 and len(result["window_images_per_second"]) == 3
        assert result["images_per_second"] == sorted(result["window_images_per_second"])[1]  # the median
        assert result["ms_per_step"] == pytest.approx(1000 * 32 / result["images_per_second"], rel=0.01)
    assert figures["images_per_second"] == synthetic["images_per_second"]
    assert figures["real_over_synthetic"] == pytest.approx(real["images_per_second"] / synthetic["images_per_second"],
                                                           abs=0.001)
    assert figures["peak_rss_bytes"] > 100 << 20
    assert real["source"].startswith(f"the training pipeline: IDX files in {tiny['data']}")
    assert real["augment"] == "flip, translate 0.1, color" and synthetic["augment"] == ""
    # the input pipeline alone, without the model: what a CPU can feed a GPU
    assert real["pipeline_images_per_second"] > 0 and real["pipeline_images_per_cpu_second"] > 0
    assert 0 < real["pipeline_cpu_cores_used"] and real["cpu_cores"] >= 1
    assert "pipeline_images_per_second" not in synthetic
    assert real["pipeline_images"] == (2 + 3 * 4) * 32  # the warm-up and timed steps' images (less than an epoch)
    assert "synthetic" in r.stdout and "real / synthetic" in r.stdout
    assert "augmentation (real data): flip, translate 0.1, color" in r.stdout
    assert (f"input pipeline alone ({real['pipeline_images']} images): {real['pipeline_images_per_second']:.1f} "
            f"images/s") in r.stdout


def test_bench_steps_per_execution_must_divide(tiny):
    r = cli("bench", "--arch", tiny["arch"], "--recipe", tiny["recipe"], "--steps", "3", "--windows", "1",
            "--warmup", "2", "--steps-per-execution", "2")
    assert r.returncode == 2
    assert "must be multiples of --steps-per-execution (2)" in r.stderr

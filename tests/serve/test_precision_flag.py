"""`--precision float32|bfloat16` on evaluate, predict and export: the inference form (nn/inference.py) that
runs; float32 (BatchNorm folded) gives the trained model's accuracy, bfloat16 runs and stays close to it."""
from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import TINY_ARCH, TINY_RECIPE, bars, cli, write_bars

pytestmark = pytest.mark.e2e

ARCH = TINY_ARCH.replace("classes: 10\n", "classes: 10\ndefaults: {batch_norm: true}\n")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("precision")
    data = write_bars(str(tmp / "data"), 256, 128)
    (tmp / "a.yaml").write_text(ARCH)
    (tmp / "r.yaml").write_text(TINY_RECIPE.replace("DATA", data))
    r = cli("train", "--arch", tmp / "a.yaml", "--recipe", tmp / "r.yaml", "--run-dir", tmp / "run", "--set",
            "precision=float32")
    assert r.returncode == 0, r.stdout + r.stderr
    return tmp


def accuracy(out: str) -> float:
    return float(re.search(r"accuracy (\d\.\d+)", out).group(1))


def test_evaluate_in_each_precision(run):
    f32 = cli("evaluate", run / "run", "--precision", "float32")
    bf16 = cli("evaluate", run / "run", "--precision", "bfloat16")
    plain = cli("evaluate", run / "run")
    for r in (f32, bf16, plain):
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert "(float32)" in plain.stdout and "(bfloat16)" in bf16.stdout
    assert accuracy(plain.stdout) == accuracy(f32.stdout)
    assert abs(accuracy(bf16.stdout) - accuracy(f32.stdout)) <= 0.03
    bad = cli("evaluate", run / "run", "--precision", "float16")
    assert bad.returncode == 2 and "float16" in bad.stderr and "Traceback" not in bad.stderr


def test_export_in_bfloat16_runs_in_its_runtime(run, tmp_path):
    from inception_keras.serve.export import run_exported

    r = cli("export", run / "run", "--format", "saved_model", "--out", tmp_path / "sm", "--precision", "bfloat16")
    assert r.returncode == 0 and "exported in bfloat16" in r.stdout, r.stdout + r.stderr
    x = np.random.default_rng(0).random((4, 16, 16, 1), dtype=np.float32)
    logits = run_exported("saved_model", str(tmp_path / "sm"), x)
    assert logits.shape == (4, 10) and logits.dtype == np.float32


def test_predict_in_bfloat16_names_the_float32_top_class(run, tmp_path):
    from PIL import Image

    x, _ = bars(3, 7)
    paths = []
    for i, img in enumerate(x):
        paths.append(tmp_path / f"b{i}.png")
        Image.fromarray(img).save(paths[-1])
    top = {}
    for p in ("float32", "bfloat16"):
        r = cli("predict", run / "run", *paths, "--top", "1", "--precision", p)
        assert r.returncode == 0, r.stdout + r.stderr
        top[p] = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("  ")]
    assert len(top["float32"]) == 3 and top["float32"] == top["bfloat16"], top

"""Lean saved models: model.keras, best.keras and averaged.keras hold the network and its weights, not the
optimizer's state, which lives in the backup that resume needs (issue 31, item 6)."""
from __future__ import annotations

import json
import os
import zipfile

import h5py
import pytest
from conftest import TINY_ARCH, TINY_RECIPE, write_bars
from test_train import rows

import inception_keras

pytestmark = pytest.mark.e2e


def h5_paths(f) -> list[str]:
    names: list[str] = []
    f.visit(names.append)
    return names


def saved_contents(path: str, tmp) -> tuple[dict, list[str]]:
    """(config.json, every HDF5 path of model.weights.h5) of a .keras zip."""
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
        z.extract("model.weights.h5", tmp)
    with h5py.File(os.path.join(tmp, "model.weights.h5"), "r") as f:
        return config, h5_paths(f)


def test_finished_run_saves_models_without_the_optimizer_and_they_evaluate(tmp_path):
    from inception_keras.runs.loader import load_model
    from inception_keras.serve.evaluate import evaluate

    data = write_bars(str(tmp_path / "data"), n_train=256, n_test=64)
    (tmp_path / "tiny.yaml").write_text(TINY_ARCH)
    (tmp_path / "recipe.yaml").write_text(TINY_RECIPE.replace("DATA", data)  # Adam: two slots per weight
                                          + "early_stopping: {metric: val_accuracy, patience: 5}\naverage_last: 2\n")
    run = inception_keras.train(str(tmp_path / "tiny.yaml"), str(tmp_path / "recipe.yaml"), {"epochs": 2},
                                str(tmp_path / "run"), verbose=0, log=lambda *parts: None)
    for name in ("model.keras", "best.keras", "averaged.keras"):
        config, paths = saved_contents(os.path.join(run, name), tmp_path / name)
        assert not [p for p in paths if "optimizer" in p], name
        assert "optimizer" not in (config.get("compile_config") or {}), name
        assert [p for p in paths if p.startswith("layers/conv2d")], name  # the weights are there
    with h5py.File(os.path.join(run, "backup", "epoch-0002.weights.h5"), "r") as f:
        slots = [p for p in h5_paths(f) if p.startswith("optimizer/vars/")]
    # the lean file loads (runs.loader) and still evaluates: its accuracy is the last epoch's val_accuracy
    model = load_model(os.path.join(run, "model.keras"))
    # Adam's two moments per trainable weight, its iteration count and learning rate: in the backup only
    assert len(slots) == 2 * len(model.trainable_weights) + 2
    result = evaluate(os.path.join(run, "model.keras"))
    assert result["examples"] == 64
    assert result["accuracy"] == pytest.approx(float(rows(run)[-1]["val_accuracy"]), abs=1e-6)
    assert os.path.getsize(os.path.join(run, "model.keras")) < os.path.getsize(
        os.path.join(run, "backup", "epoch-0002.weights.h5"))

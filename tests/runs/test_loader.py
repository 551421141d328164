"""runs.loader, the one model loader: files written by the code before the restructuring (tests/fixtures/legacy_run,
whose model.keras names the layer `inception_keras>AdaptiveAveragePooling2D`) load and predict, its run directory
evaluates to what its training measured, and damaged files are errors naming them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, write_bars

from inception_keras.errors import ConfigError
from inception_keras.runs import loader

pytestmark = pytest.mark.e2e

LEGACY = os.path.join(ROOT, "tests", "fixtures", "legacy_run")


@pytest.fixture
def legacy(tmp_path):
    """A copy of the legacy run (config.yaml names its data at /tmp/lg/data) and freshly written bars data."""
    run = tmp_path / "legacy_run"
    shutil.copytree(LEGACY, run)
    data = write_bars(str(tmp_path / "data"), n_train=256, n_test=64)
    return str(run), data


def test_loader_imports_without_tensorflow():
    code = ("import sys, inception_keras.runs.loader; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_the_legacy_model_loads_and_predicts_as_its_backup_does():
    import keras

    model = loader.load_model(os.path.join(LEGACY, "model.keras"))
    pool = model.get_layer("s2.adaptive_avgpool1")
    assert isinstance(pool, keras.layers.AdaptiveAveragePooling2D)  # Keras' own layer, under the saved name
    assert pool.get_config()["output_size"] == 3 and "data_format" not in pool.get_config()
    x = np.random.default_rng(0).random((5, 16, 16, 1), dtype=np.float32)
    logits = np.asarray(model(x, training=False))
    assert logits.shape == (5, 10) and np.isfinite(logits).all()
    # the last backup holds the same epoch: loaded into the models built from config.yaml, the same logits
    from inception_keras.lang.resolve import resolve
    from inception_keras.nn.builder import build_models
    from inception_keras.runs.config import config_documents

    models = build_models(resolve(*config_documents(LEGACY))[0])
    loader.load_weights(models.train, os.path.join(LEGACY, "backup", "epoch-0001.weights.h5"), quiet=True)
    np.testing.assert_allclose(np.asarray(models.inference(x, training=False)), logits, atol=1e-5)


def test_a_model_saved_now_keeps_the_saved_layer_name(tmp_path):
    import json
    import zipfile

    from inception_keras.lang.resolve import resolve
    from inception_keras.nn.builder import build_models
    from inception_keras.runs.config import config_documents

    path = str(tmp_path / "now.keras")
    build_models(resolve(*config_documents(LEGACY))[0]).inference.save(path)
    layers = json.loads(zipfile.ZipFile(path).read("config.json"))["config"]["layers"]
    pool = next(layer for layer in layers if layer["name"] == "s2.adaptive_avgpool1")
    assert pool["registered_name"] == "inception_keras>AdaptiveAveragePooling2D"
    assert pool["config"]["output_size"] == 3
    assert tuple(loader.load_model(path).get_layer("s2.adaptive_avgpool1").output.shape) == (None, 3, 3, 16)


def test_the_legacy_run_evaluates_to_what_its_training_measured(legacy):
    from inception_keras.serve.evaluate import evaluate

    run, data = legacy
    result = evaluate(run, data_dir=data)
    assert result["model"] == os.path.join(run, "model.keras") and result["examples"] == 64
    history = loader.runs.read_checkpoint(run)["history"][-1]
    assert result["accuracy"] == pytest.approx(history["val_accuracy"])
    assert result["loss"] == pytest.approx(history["val_loss"], abs=1e-4)
    # an unfinished run: the newest backup's weights in the model built from config.yaml, the same numbers
    os.remove(os.path.join(run, "model.keras"))
    again = evaluate(run, data_dir=data)
    assert again["model"].endswith("epoch-0001.weights.h5 (epoch 1; the run has not finished)")
    assert again["accuracy"] == result["accuracy"] and again["loss"] == pytest.approx(result["loss"], abs=1e-5)


def test_load_run_gives_the_training_model_of_an_unfinished_run(legacy):
    run, _ = legacy
    finished = loader.load_run(run)
    assert finished.recipe.name == "tiny" and finished.spec.name == "legacy" and finished.train is not None
    os.remove(os.path.join(run, "model.keras"))
    unfinished = loader.load_run(run)
    assert unfinished.path == os.path.join(run, "backup", "epoch-0001.weights.h5")
    assert unfinished.inference.output_shape == (None, 10)
    shutil.rmtree(os.path.join(run, "backup"))
    with pytest.raises(ConfigError, match="no model.keras and no backup"):
        loader.load_run(run)


def test_damaged_and_wrong_files_are_errors_naming_them(legacy, tmp_path):
    run, _ = legacy
    model, weights = os.path.join(run, "model.keras"), os.path.join(run, "backup", "epoch-0001.weights.h5")
    with open(model, "r+b") as f:
        f.truncate(100)
    with pytest.raises(loader.LoadError) as e:
        loader.load_model(model)
    assert str(e.value) == (f"{model}: cannot load the model: not a readable .keras file (a zip archive of the "
                            "model); truncated or corrupt?") and e.value.path == model and e.value.exit_code == 2
    os.remove(model)
    with open(weights, "r+b") as f:
        f.truncate(500)
    with pytest.raises(loader.LoadError, match=f"^{weights}: cannot load these weights .*--recover"):
        loader.load_run(run)
    missing = str(tmp_path / "nothing")
    with pytest.raises(ConfigError, match="no such run directory or model file"):
        loader.load_inference(missing)
    with pytest.raises(ConfigError, match="not a run directory or a .keras model file"):
        loader.load_inference(weights)


def test_warm_start_loads_through_the_loader(legacy):
    """train --init-from: a finished run's model.keras, an unfinished run's newest backup, a damaged file named."""
    from inception_keras.engine.setup import warm_start
    from inception_keras.lang.resolve import resolve
    from inception_keras.nn.builder import build_models
    from inception_keras.runs.config import config_documents

    run, _ = legacy
    model = build_models(resolve(*config_documents(run))[0]).train
    tensors = sum(len(layer.weights) for layer in model.layers)
    assert warm_start(model, run) == (f"initialized 8 layer(s), {tensors} tensor(s), from {run}/model.keras; no "
                                      f"layer starts fresh")
    os.remove(os.path.join(run, "model.keras"))
    weights = os.path.join(run, "backup", "epoch-0001.weights.h5")
    assert warm_start(model, run) == (f"initialized 8 layer(s), {tensors} tensor(s), from {weights}; no layer "
                                      f"starts fresh")
    with open(weights, "r+b") as f:
        f.truncate(500)
    with pytest.raises(ConfigError, match=f"^--init-from {weights}: cannot load it \\(.+\\)$"):
        warm_start(model, run)
    with pytest.raises(ConfigError, match=f"^--init-from {weights}: cannot load it \\(.+\\)$"):
        warm_start(model, weights)


@pytest.mark.parametrize("module", ["inception_keras.blocks", "inception_keras.nn.blocks"])
def test_plain_keras_loads_the_legacy_model_after_importing_the_layers(module):
    """README: `import inception_keras.nn.blocks` (or the earlier `inception_keras.blocks`), then Keras' own
    load_model, in a fresh interpreter."""
    code = (f"import keras, {module}\n"
            f"m = keras.models.load_model({os.path.join(LEGACY, 'model.keras')!r})\n"
            "print(type(m.get_layer('s2.adaptive_avgpool1')).__name__ if any(l.name == 's2.adaptive_avgpool1' "
            "for l in m.layers) else sorted(type(l).__name__ for l in m.layers))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "AdaptiveAveragePooling2D"


def test_the_legacy_run_resumes_and_compares(legacy):
    """The run directory written before the restructuring is extended by `train --resume` (its epoch 1 kept, epoch
    2 added) and read by `compare` with today's keys filled in."""
    from conftest import cli

    run, data = legacy
    config = os.path.join(run, "config.yaml")
    text = open(config).read()
    open(config, "w").write(text.replace("path: /tmp/lg/data", f"path: {data}"))
    first = open(os.path.join(run, "metrics.csv")).read().splitlines()
    r = cli("train", "--resume", run, "--set", "epochs=2")
    assert r.returncode == 0, r.stderr
    assert "training to 2 epochs (config.yaml said 1; 1 done)" in r.stdout
    rows = open(os.path.join(run, "metrics.csv")).read().splitlines()
    assert rows[:2] == first and [row.split(",")[0] for row in rows[1:]] == ["1", "2"]
    c = cli("compare", run, "--by-run", "--format", "csv")
    assert c.returncode == 0, c.stderr
    assert "legacy_run" in c.stdout and "finished" in c.stdout

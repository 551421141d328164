"""Fine-tuning and the training options (issue 23): frozen parts, phases, --init-from's report, EMA, gradient
accumulation, early stopping with best.keras, top-5, averaging the last epochs. Real training of a tiny network."""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from conftest import cli
from test_train import run_until

from inception_keras.errors import ConfigError
from inception_keras.lang.recipe import load_recipe

BN_ARCH = """\
name: tinybn
input: [16, 16, 1]
classes: 10
stages:
  s1:
    - conv: {filters: 8, kernel: 3, stride: 2, batch_norm: true}
  s2:
    - inception: {name: 2a, 1x1: 4, 3x3_reduce: 4, 3x3: 4, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}
    - global_avgpool
  head:
    - dense: {}
"""

#: Every option at once, each of them state that must survive a kill: the phase (frozen s1, then all at a tenth
#: of the rate), EMA weights, accumulated gradients (20 steps an epoch: a pair straddles no epoch, 3 would),
#: the best epoch, the kept weights to average, MixUp, CutMix and RandAugment's draws (AugMix draws from the
#: same per-image seeds; tests/data/test_policies.py shows both repeat with the seed).
EVERYTHING = """\
freeze: [s1]
phases: [{epoch: 3, freeze: [], learning_rate: 0.002}]
early_stopping: {metric: val_accuracy, patience: 10}
average_last: 2
top5: true
augment: {mixup: 0.4, cutmix: 1.0, randaugment: {ops: 1}, augmix: {width: 2, severity: 2}}
"""


def rows(run) -> list[dict]:
    with open(os.path.join(run, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def scores(run) -> list[dict]:
    """Every column but the clock's."""
    return [{k: v for k, v in r.items() if k not in ("epoch_seconds", "images_per_second")} for r in rows(run)]


@pytest.fixture
def bn(tiny):
    arch = tiny["tmp"] / "bn.yaml"
    arch.write_text(BN_ARCH)
    return dict(tiny, arch=str(arch))


def train(bn, run, *extra):
    return ["train", "--arch", bn["arch"], "--recipe", bn["recipe"], "--run-dir", run, *extra]


def weights(path) -> dict:
    import keras

    import inception_keras.nn.blocks  # noqa: F401

    model = keras.models.load_model(path, compile=False)
    return {w.path: np.asarray(w) for w in model.weights}


@pytest.mark.e2e
def test_frozen_stage_is_bit_identical_after_training_and_init_from_reports(bn):
    """s1 (a convolution and its BatchNorm, moving statistics included) frozen for 2 epochs of real training
    after a warm start: every s1 tensor equals the donor's bit for bit; the rest changed. Declared in the
    architecture instead (`trainable: false` on s1's convolution and on block 2a), the same holds for them, the
    saved model's trainable parameters are the head's alone, and `summary` names the frozen parts and counts
    them. The warm start says how many tensors it took and which layer started fresh, and why."""
    donor = bn["tmp"] / "donor"
    other = bn["tmp"] / "other.yaml"
    other.write_text(BN_ARCH.replace("pool_proj: 4", "pool_proj: 6"))
    assert cli("train", "--arch", other, "--recipe", bn["recipe"], "--run-dir", donor, "--set",
               "epochs=1").returncode == 0
    run = bn["tmp"] / "frozen"
    r = cli(*train(bn, run, "--set", "epochs=2", "--set", "freeze=[s1]", "--init-from", donor))
    assert r.returncode == 0, r.stderr
    assert "initialized 7 layer(s), 16 tensor(s)" in r.stdout, r.stdout  # s1: conv 2, BN 4; 2a: 5 convs x 2
    assert ("2 layer(s) start fresh: 2a.pool_proj (shapes 1x1x8x4 4 here, 1x1x8x6 6 there); head.dense1 (shapes "
            "16x10 10 here, 18x10 10 there)") in r.stdout, r.stdout
    assert "phase 0 from epoch 1:" in r.stdout
    before, after = weights(donor / "model.keras"), weights(run / "model.keras")
    assert set(after) - set(before) == set()
    frozen = [k for k in after if k.startswith("s1.")]
    assert len(frozen) == 6 and all(np.array_equal(before[k], after[k]) for k in frozen)
    assert not np.array_equal(before["2a.1x1/kernel"], after["2a.1x1/kernel"])
    assert [r["trainable_params"] for r in rows(run)] == [str(np.sum([after[k].size for k in after if not
                                                                      k.startswith("s1.")]) - 0)] * 2
    # the same freezing declared in the architecture (`trainable: false` on a layer and on a block), no recipe key
    declared = bn["tmp"] / "declared.yaml"
    declared.write_text(BN_ARCH.replace("batch_norm: true}", "batch_norm: true, trainable: false}")
                        .replace("pool_proj: 4}", "pool_proj: 4, trainable: false}"))
    r = cli("train", "--arch", declared, "--recipe", bn["recipe"], "--run-dir", bn["tmp"] / "declared",
            "--set", "epochs=1", "--init-from", donor)
    assert r.returncode == 0, r.stderr
    after = weights(bn["tmp"] / "declared" / "model.keras")
    kept = [k for k in after if k.startswith(("s1.", "2a.")) and not k.startswith("2a.pool_proj")]
    assert len(kept) == 16 and all(np.array_equal(before[k], after[k]) for k in kept)
    import keras

    saved = keras.models.load_model(bn["tmp"] / "declared" / "model.keras", compile=False)
    assert sum(int(np.prod(w.shape)) for w in saved.trainable_weights) == 170  # the head's 16 x 10 + 10, saved so
    from inception_keras.lang.parse import load_arch
    from inception_keras.lang.summary import render

    assert "frozen (trainable: false): s1.conv1, 2a: 574 parameters; 170 trainable in training" in render(
        load_arch(str(declared))), render(load_arch(str(declared)))
    renamed = bn["tmp"] / "renamed.yaml"
    renamed.write_text(BN_ARCH.replace("stages:\n  s1:", "stages:\n  t1:").replace("2a", "3z")
                       .replace("head:", "top:"))
    nothing = cli("train", "--arch", renamed, "--recipe", bn["recipe"], "--run-dir", bn["tmp"] / "none",
                  "--init-from", donor)
    assert nothing.returncode == 2 and "no layer of this network matches one there" in nothing.stderr
    assert "t1.conv1 (no layer of that name there)" in nothing.stderr and "Traceback" not in nothing.stderr


@pytest.mark.e2e
def test_every_option_resumes_exactly_after_a_kill_in_each_phase(bn):
    """Phases, EMA, gradient accumulation, MixUp/CutMix, RandAugment, AugMix, best.keras and averaging: a run
    killed in phase 0 (after epoch 1) and in phase 1 (after epoch 3), resumed each time, ends with the same rows,
    best epoch and averaged scores as the uninterrupted run; the phase changes at the declared epoch."""
    recipe = bn["tmp"] / "all.yaml"
    recipe.write_text(open(bn["recipe"]).read().replace("epochs: 3", "epochs: 4")
                      .replace("learning_rate: 0.01}", "learning_rate: 0.02, ema: 0.9, gradient_accumulation_steps: "
                                                       "2}") + EVERYTHING)
    bn = dict(bn, recipe=str(recipe))
    whole, parts = bn["tmp"] / "whole", bn["tmp"] / "parts"
    r = cli(*train(bn, whole))
    assert r.returncode == 0, r.stderr
    run_until(train(bn, parts), str(parts), 1)
    run_until(train(bn, parts), str(parts), 3)
    r = cli(*train(bn, parts))
    assert r.returncode == 0 and "resuming after epoch 3" in r.stdout, r.stderr
    assert scores(parts) == scores(whole)
    table = rows(whole)
    assert [r["phase"] for r in table] == ["0", "0", "1", "1"]
    assert table[0]["trainable_params"] < table[2]["trainable_params"]
    assert {r["val_on_ema"] for r in table} == {"1"} and "val_top5_accuracy" in table[0]
    assert [float(r["learning_rate"]) for r in table][:1] == [0.02]
    state = [json.loads((d / "state.json").read_text())["averaged"] for d in (whole, parts)]
    assert state[0] == state[1] and state[0]["epochs"] == [3, 4]
    assert (whole / "averaged.keras").exists() and (whole / "best.keras").exists()


@pytest.mark.e2e
def test_early_stopping_keeps_the_best_epoch_the_csv_marks(bn):
    """Watching val_loss with mode max (the worst direction, so the first epoch stays best): patience 1 stops
    after epoch 2 of 4; best.keras is epoch 1's model, as the CSV's best_epoch column says, and evaluate takes
    it with the run's data."""
    run = bn["tmp"] / "early"
    r = cli(*train(bn, run, "--set", "epochs=4", "--set", "early_stopping={metric: val_loss, patience: 1, "
                                                            "mode: max}"))
    assert r.returncode == 0, r.stderr
    table = rows(run)
    assert len(table) == 2 and [r["best_epoch"] for r in table] == ["1", "1"]
    assert "early stopping: val_loss has not improved for 1 epoch(s) since epoch 1" in r.stdout
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "finished" and state["epochs_done"] == 2
    ev = cli("evaluate", run / "best.keras")
    assert ev.returncode == 0, ev.stderr
    assert float(ev.stdout.split("accuracy ")[1].split()[0]) == pytest.approx(float(table[0]["val_accuracy"]),
                                                                              abs=1e-4)


@pytest.mark.e2e
def test_gradient_accumulation_equals_the_large_batch():
    """k = 4 accumulated steps of batch 8 with plain SGD equal one step of batch 32, within round-off."""
    import keras

    from inception_keras.engine.task import make_optimizer

    def recipe(k):
        text = (f"name: r\ndataset: {{name: x}}\nepochs: 1\nbatch_size: 8\noptimizer: {{name: sgd, learning_rate: "
                f"0.5, gradient_accumulation_steps: {k}}}\n")
        return load_recipe("r.yaml", text)

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 3, 32)
    results = []
    for k, batch in ((4, 8), (1, 32)):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(3)])
        model.compile(make_optimizer(recipe(k), 1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        start = [w.copy() for w in model.get_weights()]
        model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        results.append(model.get_weights())
    assert all(np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(*results))
    assert not np.allclose(results[1][0], start[0])


def test_phases_and_freeze_are_checked():
    base = "name: r\ndataset: {name: x}\nepochs: 4\nbatch_size: 8\noptimizer: {name: sgd, learning_rate: 0.1}\n"
    with pytest.raises(ConfigError, match=r"r.yaml:6:9: freeze: expected a list, got 's1' \(a string\)"):
        load_recipe("r.yaml", base + "freeze: s1\n")
    with pytest.raises(ConfigError) as e:
        load_recipe("r.yaml", base + "freeze: [1]\nphases: [{epoch: 1}, {epoch: 9, fre: []}]\n")
    text = str(e.value)
    assert "freeze: expected a list of stage, block or layer names, got a list" in text
    assert "phases[0].epoch: expected an epoch above 1" in text
    assert "phases[1].fre: unknown key 'fre' in a phase; did you mean 'freeze'?" in text
    assert "phases[1].epoch: the run has 4 epochs; a phase starting at epoch 9 never runs" in text


def test_unknown_frozen_name_is_refused(bn):
    """Checked with the architecture before anything trains (the CLI's exit 2 for a ConfigError)."""
    from inception_keras.lang.resolve import resolve

    with pytest.raises(ConfigError, match=r"freeze: no stage, block or layer 's3' in tinybn \(stages: s1, s2, head\)"):
        resolve(bn["arch"], bn["recipe"], sets=["freeze=[s3]"])
    with pytest.raises(ConfigError, match="freeze: no stage, block or layer '2b' in tinybn"):
        resolve(bn["arch"], bn["recipe"], sets=["phases=[{epoch: 2, freeze: [2b]}]"])
    assert resolve(bn["arch"], bn["recipe"], sets=["freeze=[s1, 2a, head.dense1]"])[1].freeze == ["s1", "2a",
                                                                                                   "head.dense1"]


@pytest.mark.parametrize("mixup,cutmix", [(0.4, 0.0), (0.0, 1.0), (0.4, 1.0)])
@pytest.mark.e2e
def test_mixed_labels_weigh_classes_as_the_mixed_pixels_do(mixup, cutmix):
    """Each image a constant grey, its class's value: after mixing, each image's mean is its label's mixture of
    the class values, so the labels carry exactly the share of pixels (CutMix: the box's real area); the draws
    repeat with the seed and change with it."""
    import tensorflow as tf

    from inception_keras.data.mix import mix_batch

    values = tf.constant([0.1, 0.3, 0.6, 0.9])
    x = tf.tile(tf.reshape(values, [4, 1, 1, 1]), [1, 8, 8, 1])
    y = tf.one_hot(tf.range(4), 4)
    runs = [mix_batch(tf, x, y, tf.constant([s, 7], tf.int64), mixup, cutmix) for s in (1, 1, 2, 3, 4)]
    for images, labels in runs:
        means = tf.reduce_mean(images, axis=[1, 2, 3])
        assert np.allclose(means, tf.linalg.matvec(labels, values), atol=1e-6)
        assert np.allclose(tf.reduce_sum(labels, axis=1), 1.0)
    assert np.array_equal(runs[0][0], runs[1][0])
    assert any(not np.array_equal(runs[0][1], r[1]) for r in runs[2:])


@pytest.mark.e2e
def test_show_draws_mixed_images_with_their_label_shares(bn, tmp_path):
    """`show` on a recipe with RandAugment, AugMix, MixUp and CutMix: the training images are mixtures (not the
    validation view), each captioned with its larger class share, at least half."""
    from PIL import Image

    from inception_keras.data.show import show
    from inception_keras.lang.parse import load_arch

    recipe = load_recipe(bn["recipe"], sets=[("augment", {"mixup": 0.8, "cutmix": 1.0, "randaugment": {},
                                                          "augmix": {"severity": 5}})])
    result = show(load_arch(bn["arch"]), recipe, str(tmp_path / "mix.png"), rows=2, cols=3)
    assert "randaugment n=2 m=9, augmix k=3 severity=5, mixup 0.8, cutmix 1" in result["titles"][0]
    assert all(0.5 <= s <= 1.0 for s in result["shares"]) and min(result["shares"]) < 1.0
    assert not np.allclose(result["train"], result["validation"])
    assert Image.open(tmp_path / "mix.png").size == (result["width"], result["height"])

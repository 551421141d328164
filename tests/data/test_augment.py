"""Augmentation declared in the recipe, `show`, and the recipes that use it (issue: recipes that reach the
published numbers)."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from conftest import ROOT, TINY_ARCH, TINY_RECIPE, cli, lazy, write_bars
from PIL import Image
from test_paper import make_image_folder

from inception_keras.data import pipeline as D
from inception_keras.data.sources import open_source
from inception_keras.data.splits import Split
from inception_keras.errors import ConfigError
from inception_keras.lang.recipe import load_recipe

A = lazy("inception_keras.data.augment")  # Keras: imported by the tests that use it


def recipe_with(augment: str, data: str = "DATA", **more):
    text = TINY_RECIPE.replace("DATA", data) + f"augment: {augment}\n"
    for key, value in more.items():
        text += f"{key}: {value}\n"
    return load_recipe("r.yaml", text=text)


def uniform(n, k, seed=0):
    return np.random.default_rng(seed).random((n, k), dtype=np.float32)


# ----------------------------------------------------------------------------- the recipe's keys


BAD = [
    ("{crop: {scale: [0.5, 0.1]}}", "augment.crop.scale: expected [low, high] (two numbers > 0, at most 1, low <= "
                                    "high), got low 0.5 > high 0.1"),
    ("{crop: {scale: [0.1, 1.5]}}", "augment.crop.scale: expected [low, high] (two numbers > 0, at most 1, low <= "
                                    "high), got high 1.5 > 1"),
    ("{crop: {ratio: [0, 2]}}", "augment.crop.ratio: expected [low, high] (two numbers > 0, low <= high), got [0, 2]"),
    ("{crop: {ratio: 0.75}}", "augment.crop.ratio: expected [low, high] (two numbers > 0, low <= high), got 0.75"),
    ("{crop: {interpolation: cubic}}", "augment.crop.interpolation: unknown value 'cubic' (one of: bilinear, random)"),
    ("{flip: 1}", "augment.flip: expected true or false, got 1"),
    ("{translate: 1.5}", "augment.translate: expected a number in [0, 1), got 1.5"),
    ("{color: {brightness: -0.1}}", "augment.color.brightness: expected a number >= 0, got -0.1"),
    ("{color: {hue: 0.7}}", "augment.color.hue: expected a number in [0, 0.5] (half the colour circle), got 0.7"),
    ("{erase: {probability: 1.5}}", "augment.erase.probability: expected a number in [0, 1], got 1.5"),
    ("{erase: {value: '0'}}", "augment.erase.value: expected a number in [0, 1], got '0' (a string) (remove the "
                              "quotes)"),
    ("{blur: 3}", "augment.blur: unknown key 'blur' in augment (known: crop, flip, translate, color, erase, "
                  "randaugment, augmix, mixup, cutmix)"),
    ("{crop: {scales: [0.1, 1]}}", "augment.crop.scales: unknown key 'scales' in crop; did you mean 'scale'? (known: "
                                   "scale, ratio, interpolation)"),
]


@pytest.mark.parametrize("augment,message", BAD, ids=[b[0] for b in BAD])
def test_bad_augment_values_name_the_key_and_line(augment, message):
    with pytest.raises(ConfigError) as info:
        recipe_with(augment)
    line = TINY_RECIPE.count("\n") + 1  # the augment line, after the tiny recipe
    assert str(info.value).startswith(f"r.yaml:{line}:")
    assert str(info.value).split(": ", 1)[1] == message


@pytest.mark.e2e
def test_bad_augment_exits_2_with_every_mistake(tiny):
    recipe = tiny["tmp"] / "bad.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", tiny["data"]) + "augment:\n  flip: yes please\n  crop:\n"
                                                                   "    scale: [0.5, 2]\n")
    r = cli("train", "--arch", tiny["arch"], "--recipe", recipe, "--run-dir", tiny["tmp"] / "run")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == [
        f"error: 2 errors in {recipe}:",
        f"{recipe}:8:9: augment.flip: expected true or false, got 'yes please' (a string)",
        f"{recipe}:10:12: augment.crop.scale: expected [low, high] (two numbers > 0, at most 1, low <= high), got "
        f"high 2 > 1"]
    assert not (tiny["tmp"] / "run").exists()


def test_defaults_null_and_the_resolved_recipe():
    r = recipe_with("{crop: {}, erase: {}}")
    assert r.augment.crop.scale == (0.08, 1.0) and r.augment.crop.ratio == pytest.approx((3 / 4, 4 / 3))
    assert r.augment.erase.scale == (0.02, 0.33) and r.augment.color is None and r.augment.flip is False
    assert r.to_dict()["augment"]["crop"] == {"scale": [0.08, 1.0], "ratio": [0.75, 4 / 3],
                                              "interpolation": "bilinear"}
    assert recipe_with("null").augment is None and recipe_with("{crop: null}").augment.crop is None
    assert load_recipe("r.yaml", text=TINY_RECIPE).augment is None
    r = load_recipe("r.yaml", text=TINY_RECIPE, sets=[("augment.flip", True), ("augment.erase.probability", 1)])
    assert r.augment.flip and r.augment.erase.probability == 1.0 and r.augment.names == ["flip", "erase p=1"]


@pytest.mark.e2e
def test_colour_jitter_on_grey_images_is_refused():
    aug = recipe_with("{color: {brightness: 0.2, saturation: 0.4, hue: 0.1}}").augment
    A.Augmenter(aug, (16, 16, 3))
    with pytest.raises(ConfigError, match=r"augment\.color\.saturation: needs 3 channels; the architecture's input "
                                          r"has 1 \(set augment\.color\.saturation, augment\.color\.hue to 0\)"):
        A.Augmenter(aug, (16, 16, 1))


# ----------------------------------------------------------------------------- the transforms and their ranges


@pytest.mark.e2e
def test_crop_boxes_follow_torchvision_ranges():
    scale, ratio = (0.08, 1.0), (3 / 4, 4 / 3)
    top, left, h, w = (np.asarray(v) for v in A.crop_boxes(uniform(4000, A.CROP_DRAWS), 96, 128, scale, ratio))
    assert np.all(top >= 0) and np.all(left >= 0) and np.all(top + h <= 96) and np.all(left + w <= 128)
    assert np.all(h == np.round(h)) and np.all(top == np.round(top))
    area = h * w / (96 * 128)
    # rounding each side to whole pixels moves the area and the ratio a little past the drawn ones
    assert area.min() >= 0.08 * 0.9 and area.max() <= 1.0
    assert (w / h).min() >= 0.75 * 0.9 and (w / h).max() <= 4 / 3 * 1.1
    assert area.min() < 0.12 and area.max() > 0.9  # the whole range is drawn
    assert len(np.unique(top)) > 50 and len(np.unique(left)) > 50
    # no try fits (every area is the whole image, every ratio is wider than it): the whole image, cut to the
    # nearest allowed ratio, centred, as torchvision falls back
    u = np.zeros((1, A.CROP_DRAWS), np.float32)
    u[0, A.CROP_TRIES:2 * A.CROP_TRIES] = 0.999
    top, left, h, w = (float(np.asarray(v)[0]) for v in A.crop_boxes(u, 100, 200, (1.0, 1.0), (0.5, 1.5)))
    assert (h, w) == (100, 150) and (top, left) == (0, 25)


@pytest.mark.e2e
def test_geometric_transforms_are_exact():
    rng = np.random.default_rng(0)
    x = rng.random((2, 12, 10, 3)).astype("float32")
    flip = A.Augmenter(recipe_with("{flip: true}").augment, (12, 10, 3))
    out = np.asarray(flip.transform(x, np.array([[0.9], [0.1]], "float32")))
    np.testing.assert_allclose(out[0], x[0], atol=1e-5)
    np.testing.assert_allclose(out[1], x[1, :, ::-1], atol=1e-5)
    shift = A.Augmenter(recipe_with("{translate: 0.2}").augment, (12, 10, 3))  # up to 2 px across, 2 down
    out = np.asarray(shift.transform(x, np.array([[0.999, 0.0]], "float32")))  # 2 px right, 2 px up
    np.testing.assert_allclose(out[0, :-2, 2:], x[0, 2:, :-2], atol=1e-5)
    assert np.all(out[0, :, :2] == 0) and np.all(out[0, -2:] == 0)
    whole = A.Augmenter(recipe_with("{crop: {scale: [1, 1], ratio: [0.8333, 0.8334]}}").augment, (12, 10, 3))
    out = np.asarray(whole.transform(x, uniform(2, whole.draws)))  # the crop is the whole 10x12 image
    np.testing.assert_allclose(out, x, atol=1e-5)


@pytest.mark.e2e
def test_photometric_factors_stay_in_their_ranges():
    grey = np.full((400, 4, 4, 3), 0.5, np.float32)
    grey[:, :2] = 0.25  # two tones, so that contrast has something to change
    bright = A.Augmenter(recipe_with("{color: {brightness: 0.4}}").augment, (4, 4, 3))
    factors = np.asarray(bright.transform(grey, uniform(400, 1)))[:, 3, 3, 0] / 0.5
    assert factors.min() >= 0.6 - 1e-5 and factors.max() <= 1.4 + 1e-5 and factors.max() - factors.min() > 0.7
    contrast = A.Augmenter(recipe_with("{color: {contrast: 0.5}}").augment, (4, 4, 3))
    out = np.asarray(contrast.transform(grey, uniform(400, 1)))
    spread = (out[:, 3, 3, 0] - out[:, 0, 0, 0]) / 0.25  # the contrast factor
    assert spread.min() >= 0.5 - 1e-4 and spread.max() <= 1.5 + 1e-4 and spread.max() - spread.min() > 0.9
    colour = np.random.default_rng(1).random((300, 3, 3, 3)).astype("float32") * 0.8 + 0.1
    hue = A.Augmenter(recipe_with("{color: {hue: 0.1}}").augment, (3, 3, 3))
    import keras

    before = np.asarray(keras.ops.image.rgb_to_hsv(colour))[..., 0]
    after = np.asarray(keras.ops.image.rgb_to_hsv(hue.transform(colour, uniform(300, 1))))[..., 0]
    turn = (after - before + 0.5) % 1.0 - 0.5
    assert np.abs(turn).max() <= 0.1 + 1e-3 and np.abs(turn).max() > 0.08
    light = A.Augmenter(recipe_with("{color: {lighting: 0.1}}").augment, (4, 4, 3))
    out = np.asarray(light.transform(grey, uniform(400, 3))) - grey
    assert np.allclose(out, out[:, :1, :1], atol=1e-6)  # one RGB offset per image, the same at every pixel
    assert 0.005 < out[:, 0, 0].std(axis=0).max() < 0.05  # about 0.1 x sqrt(0.2175) x 0.58 in each channel


@pytest.mark.e2e
def test_erasing_covers_its_area_range_with_its_probability():
    ones = np.ones((500, 20, 20, 1), np.float32)
    erase = A.Augmenter(recipe_with("{erase: {probability: 0.5, scale: [0.1, 0.3], ratio: [0.5, 2], value: 0.2}}")
                        .augment, (20, 20, 1))
    out = np.asarray(erase.transform(ones, uniform(500, erase.draws)))
    assert set(np.unique(out)) == {np.float32(0.2), np.float32(1.0)}
    area = (out == np.float32(0.2)).mean(axis=(1, 2, 3))
    hit = area > 0
    assert 0.4 < hit.mean() < 0.6
    assert area[hit].min() >= 0.1 * 0.7 and area[hit].max() <= 0.3 * 1.3  # whole pixels round the sides
    always = A.Augmenter(recipe_with("{erase: {probability: 1}}").augment, (20, 20, 1))
    assert np.all((np.asarray(always.transform(ones[:50], uniform(50, always.draws))) < 1).any(axis=(1, 2, 3)))


@pytest.mark.e2e
def test_the_layer_augments_only_in_training_and_follows_its_seed():
    import keras

    aug = recipe_with("{crop: {scale: [0.3, 1]}, flip: true, translate: 0.1, erase: {}}").augment
    x = np.random.default_rng(0).random((6, 16, 16, 1)).astype("float32")
    layer = A.Augmenter(aug, (16, 16, 1), seed=3)
    assert np.array_equal(np.asarray(layer(x)), x) and np.array_equal(np.asarray(layer(x, training=False)), x)
    first = np.asarray(layer(x, training=True))
    assert first.shape == x.shape and not np.allclose(first, x)
    assert not np.allclose(np.asarray(layer(x, training=True)), first)  # new draws each call
    assert np.array_equal(np.asarray(A.Augmenter(aug, (16, 16, 1), seed=3)(x, training=True)), first)
    assert not np.allclose(np.asarray(A.Augmenter(aug, (16, 16, 1), seed=4)(x, training=True)), first)
    # as the first layer of a model (tools/gpu_check.py): fit draws new numbers each step, predict passes through
    inp = keras.Input((16, 16, 1))
    layer = A.Augmenter(aug, (16, 16, 1), seed=3)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(layer(inp))))
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    state = np.asarray(layer.generator.state).copy()
    model.fit(x, np.zeros(6, "int32"), batch_size=3, epochs=1, verbose=0)
    assert not np.array_equal(np.asarray(layer.generator.state), state)
    probe = keras.Model(inp, layer(inp, training=False))
    assert np.array_equal(np.asarray(probe.predict(x, verbose=0)), x)


# ----------------------------------------------------------------------------- pipelines: training only, seeded


def batches(ds, n=2):
    out = []
    for x, y in ds.take(n):
        out.append((np.asarray(x), np.asarray(y)))
    return out


@pytest.mark.e2e
def test_in_memory_pipeline_augments_training_only_reproducibly(tmp_path):
    data = write_bars(str(tmp_path / "data"), n_train=64, n_test=32)
    recipe = recipe_with("{crop: {scale: [0.5, 1]}, flip: true, translate: 0.1, erase: {}}", data)
    source = open_source(recipe.dataset, 10)
    kw = dict(input_shape=(32, 32, 1), batch=16, seed=5)
    plain = batches(D.pipeline(source.train, training=True, **kw))
    first = batches(D.pipeline(source.train, training=True, augment=recipe.augment, **kw))
    again = batches(D.pipeline(source.train, training=True, augment=recipe.augment, **kw))
    other = batches(D.pipeline(source.train, training=True, augment=recipe.augment, **dict(kw, seed=6)))
    assert first[0][0].shape == (16, 32, 32, 1) and first[0][0].dtype == np.float32
    assert 0 <= first[0][0].min() and first[0][0].max() <= 1
    for (x, y), (px, py), (ax, ay) in zip(first, plain, again):
        assert np.array_equal(y, py) and np.array_equal(x, ax) and np.array_equal(y, ay)  # same order, same draws
        assert not np.allclose(x, px)
    assert not np.allclose(other[0][0], first[0][0])
    ds = D.pipeline(source.train, training=True, augment=recipe.augment, **kw)
    epoch1, epoch2 = batches(ds, 4), batches(ds, 4)
    assert not np.allclose(epoch1[0][0], epoch2[0][0])  # new crops every epoch
    # validation data are never augmented
    val = batches(D.pipeline(source.val, training=False, augment=recipe.augment, **kw))
    for (x, y), (px, py) in zip(val, batches(D.pipeline(source.val, training=False, **kw))):
        assert np.array_equal(x, px) and np.array_equal(y, py)


@pytest.mark.e2e
def test_image_folder_and_streams_crop_before_resizing(tmp_path):
    """Image folders (JPEG and PNG, cached bytes or not) and decoded streams crop each stored image."""
    import tensorflow as tf

    folder = make_image_folder(tmp_path / "shapes", per_class=6)
    recipe = load_recipe("r.yaml", text=f"name: s\ndataset: {{name: s, kind: image_folder, path: {folder}, "
                                        f"validation_fraction: 0.25}}\nepochs: 1\nbatch_size: 4\noptimizer: "
                                        f"{{name: sgd, learning_rate: 0.1}}\naugment: {{crop: {{interpolation: "
                                        f"random}}, flip: true, color: {{brightness: 0.4, saturation: 0.4, "
                                        f"lighting: 0.1}}}}\n")
    source = open_source(recipe.dataset, 3)
    kw = dict(input_shape=(24, 24, 3), batch=4, seed=0, augment=recipe.augment)
    results = {}
    for cache in (True, False):
        ds = D.pipeline(source.train, training=True, cache=cache, **kw)
        first, second = batches(ds, 3), batches(ds, 3)
        assert first[0][0].shape == (4, 24, 24, 3) and not np.allclose(first[0][0], second[0][0])
        results[cache] = first
        again = batches(D.pipeline(source.train, training=True, cache=cache, **kw), 3)
        assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(first, again))
    # the bytes cache changes where files are read, not what is drawn
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(results[True], results[False]))
    plain = batches(D.pipeline(source.train, training=True, input_shape=(24, 24, 3), batch=4, seed=0), 3)
    assert not np.allclose(plain[0][0], results[True][0][0])
    # a decoded stream (as tfds gives), cropped one example at a time
    images = np.random.default_rng(0).integers(0, 255, (6, 40, 30, 3)).astype(np.uint8)
    stream = Split(6, stream=lambda channels=3: tf.data.Dataset.from_tensor_slices((images, np.arange(6))))
    x, y = batches(D.pipeline(stream, (20, 20, 3), 6, training=True, seed=1, augment=recipe.augment,
                              shuffle=False), 1)[0]
    assert x.shape == (6, 20, 20, 3) and list(y) == list(range(6))
    whole = D.pipeline(stream, (20, 20, 3), 6, training=False, shuffle=False)
    assert not np.allclose(x, batches(whole, 1)[0][0])
    # a crop of the whole image at its own size, flipped or not, per example
    same = load_recipe("r.yaml", text=TINY_RECIPE + "augment: {crop: {scale: [1, 1], ratio: [0.75, 0.75]}, "
                                                    "flip: true}\n").augment
    x, _ = batches(D.pipeline(stream, (40, 30, 3), 6, training=True, seed=0, augment=same, shuffle=False), 1)[0]
    stored = images / 255.0
    mirrored = [np.allclose(a, b[:, ::-1], atol=1e-6) for a, b in zip(x, stored)]
    kept = [np.allclose(a, b, atol=1e-6) for a, b in zip(x, stored)]
    assert all(m != k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)


@pytest.mark.e2e
def test_crop_fraction_keeps_the_centre():
    images = np.zeros((1, 8, 8, 1), np.uint8)
    images[0, 2:6, 2:6] = 255  # a bright centre of half the side
    split = Split(1, images, np.zeros(1, np.int32))
    x, _ = batches(D.pipeline(split, (4, 4, 1), 1, training=False, resize="crop", crop_fraction=0.5), 1)[0]
    assert np.allclose(x, 1.0)  # only the centre is left
    x, _ = batches(D.pipeline(split, (8, 8, 1), 1, training=False, resize="crop"), 1)[0]
    assert np.array_equal(x[0, :, :, 0] > 0.5, images[0, :, :, 0] > 0)


# ----------------------------------------------------------------------------- show


def expected_size(input_hw, rows, cols):
    """docs/augmentation.md: cells of the input size magnified to at least 64 px, 8 px apart, 14 px captions, a
    20 px title band, 16 px between the two grids, an 8 px border."""
    k = max(1, math.ceil(64 / min(input_hw)))
    cw, ch = input_hw[1] * k, input_hw[0] * k
    return 2 * 8 + 16 + 2 * (cols * cw + (cols - 1) * 8), 2 * 8 + 20 + rows * (ch + 14) + (rows - 1) * 8


def panels(path, grid):
    image = np.asarray(Image.open(path).convert("RGB"))
    (cw, ch) = grid["cell"]
    return [[image[y:y + ch, x:x + cw] for x, y in cells] for cells in grid["cells"]]


@pytest.mark.e2e
def test_show_draws_training_and_validation_views(tiny):
    from inception_keras.data.show import show as draw
    from inception_keras.lang.resolve import resolve

    def show(arch, recipe, out, sets=(), rows=4, cols=6):  # as `inception-keras show` calls it
        spec, resolved, _ = resolve(arch, recipe, sets)
        return draw(spec, resolved, out, rows=rows, cols=cols)

    recipe = tiny["tmp"] / "aug.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", tiny["data"])
                      + "augment: {crop: {scale: [0.3, 1]}, flip: true, erase: {probability: 1}}\n")
    out = tiny["tmp"] / "grid.png"
    grid = show(tiny["arch"], str(recipe), str(out), rows=2, cols=3)
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == expected_size((16, 16), 2, 3) == (448, 200)
    train, val = panels(out, grid)
    assert all(not np.array_equal(t, v) for t, v in zip(train, val))  # every training image is augmented
    assert grid["classes"] == [str(label) for label in grid["labels"]]  # IDX files other than (fashion_)mnist
    # the validation grid is the data as validation sees it: resized, never augmented. Expected from the bars the
    # fixture wrote (conftest.bars), resized in NumPy (test_predict.numpy_input), drawn 4x as PIL reads it back
    from conftest import bars
    from test_predict import numpy_input

    images, labels = bars(640, 0)
    expected = np.stack([numpy_input(x[..., None], (16, 16, 1)) for x in images[:6]])
    assert np.abs(np.asarray(grid["validation"], np.float64) - expected).max() < 1e-6
    assert list(grid["labels"]) == list(labels[:6])
    drawn = np.clip(np.round(expected * 255), 0, 255).astype(np.uint8).repeat(4, axis=1).repeat(4, axis=2)
    assert all(np.abs(v.astype(int) - np.repeat(d, 3, axis=-1)).max() <= 1 for v, d in zip(val, drawn))  # rounding
    # the same seed draws the same picture, another seed another
    again = tiny["tmp"] / "again.png"
    show(tiny["arch"], str(recipe), str(again), rows=2, cols=3)
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))
    other = tiny["tmp"] / "other.png"
    show(tiny["arch"], str(recipe), str(other), sets=["seed=2"], rows=2, cols=3)
    assert not np.array_equal(panels(out, grid)[0][0], panels(other, grid)[0][0])
    assert np.array_equal(panels(out, grid)[1][0], panels(other, grid)[1][0])
    # without augmentation the two grids are the same images
    plain = tiny["tmp"] / "plain.png"
    show(tiny["arch"], str(recipe), str(plain), sets=["augment=null"], rows=2, cols=3)
    train, val = panels(plain, grid)
    assert all(np.array_equal(t, v) for t, v in zip(train, val))


@pytest.mark.e2e
def test_show_command(tiny, tmp_path):
    folder = make_image_folder(tmp_path / "shapes", per_class=4)
    arch = tmp_path / "rgb.yaml"
    arch.write_text(TINY_ARCH.replace("[16, 16, 1]", "[32, 32, 3]").replace("classes: 10", "classes: 3"))
    out = tmp_path / "show.png"
    r = cli("show", "--arch", arch, "--recipe", "train/imagenet.yaml", "--data-dir", folder, "--out", out,
            "--rows", "1", "--cols", "3")
    assert r.returncode == 0, r.stderr
    width, height = expected_size((32, 32), 1, 3)
    assert r.stdout.strip() == (f"wrote {out}: 3 training images (crop 0.08-1 of the area, flip, color) beside "
                                f"their validation view, {width}x{height} px")
    with Image.open(out) as image:
        assert image.size == (width, height)
    r = cli("show", "--arch", arch, "--recipe", "train/imagenet.yaml", "--data-dir", folder, "--out",
            tmp_path / "other.png", "--set", "augment.color.hue=0.9")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == ("error: train/imagenet.yaml: augment.color.hue: expected a number in [0, 0.5] (half "
                                "the colour circle), got 0.9 (from --set augment.color.hue=0.9)")


# ----------------------------------------------------------------------------- recipes that use it


@pytest.mark.e2e
def test_imagenet_augmentation_trains_on_an_image_folder(tmp_path):
    """The paper's recipe (Inception crop, random interpolation, flip, photometric jitter) on generated JPEGs
    and PNGs: a tiny network trains one epoch through it."""
    folder = make_image_folder(tmp_path / "shapes", per_class=8)
    arch = tmp_path / "rgb.yaml"
    arch.write_text(TINY_ARCH.replace("[16, 16, 1]", "[32, 32, 3]").replace("classes: 10", "classes: 3"))
    run = tmp_path / "run"
    r = cli("train", "--arch", arch, "--recipe", "train/imagenet.yaml", "--data-dir", folder, "--run-dir", run,
            "--set", "epochs=1", "--set", "batch_size=4", "--set", "dataset.validation_fraction=0.25",
            "--set", "precision=float32")
    assert r.returncode == 0, r.stderr
    assert "augment (training data only): crop 0.08-1 of the area, flip, color" in r.stdout
    with open(run / "metrics.csv") as f:
        rows = f.read().splitlines()
    assert len(rows) == 2 and math.isfinite(float(rows[1].split(",")[1]))
    env = json.loads((run / "env.json").read_text())
    assert env["train_examples"] == 18 and env["validation_examples"] == 6


@pytest.mark.e2e
def test_shipped_recipes_augment_as_documented():
    paper = load_recipe(os.path.join(ROOT, "train", "imagenet.yaml"))
    assert paper.augment.crop.scale == (0.08, 1.0) and paper.augment.crop.ratio == pytest.approx((0.75, 4 / 3))
    assert paper.augment.crop.interpolation == "random" and paper.augment.flip
    assert paper.dataset.crop_fraction == pytest.approx(224 / 256)
    bn = load_recipe(os.path.join(ROOT, "train", "imagenet_bn.yaml"))
    assert bn.augment.crop.interpolation == "bilinear" and bn.augment.color is None and bn.epochs == 90
    best = load_recipe(os.path.join(ROOT, "train", "fashion_mnist_best.yaml"))
    assert best.augment.crop is None and best.augment.flip and best.augment.erase.probability == 0.5
    assert best.label_smoothing == 0.1 and best.schedule.name == "cosine" and best.optimizer.momentum == 0.9
    from inception_keras.lang.parse import load_arch

    spec = load_arch(os.path.join(ROOT, "arch", "googlenet_bn_fashion.yaml"))
    assert spec.input == (96, 96, 1) and spec.classes == 10 and not spec.aux_heads
    A.Augmenter(best.augment, spec.input)  # grey images: no colour jitter asked for


@pytest.mark.e2e
def test_gpu_check_best_runs_on_the_tensorflow_backend(tiny):
    """tools/gpu_check.py best is written for Keras on JAX (the GPU machine has no TensorFlow); its logic runs on
    any backend, here TensorFlow at tiny scale: the augmentation is the training model's first layer."""
    import subprocess
    import sys

    recipe = tiny["tmp"] / "best.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", tiny["data"]) + "label_smoothing: 0.1\naugment: {translate: 0.1, "
                                                                  "flip: true, erase: {}}\n")
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gpu_check.py"), "best", "--arch", tiny["arch"],
                        "--recipe", str(recipe), "--idx", tiny["data"], "--epochs", "2", "--precision", "float32"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert lines[0]["train"] == 640 and lines[0]["test"] == 160
    epochs = lines[1:]
    assert [e["epoch"] for e in epochs] == [1, 2] and epochs[0]["backend"] == "tensorflow"
    assert epochs[0]["augment"] == ["flip", "translate 0.1", "erase p=0.5"]
    assert all(0 <= e["val_accuracy"] <= 1 and e["images_per_second"] > 0 for e in epochs)


@pytest.mark.e2e
def test_gpu_check_best_learns_a_known_answer(tiny):
    """A known input: every training and test label is 3, so a mode that trains and evaluates what it says
    reaches a test accuracy of exactly 1 (and a broken one, chance: 0.1)."""
    import subprocess
    import sys

    from conftest import bars, write_idx

    data = tiny["tmp"] / "threes"
    data.mkdir()
    for split, n, seed in (("train", 640, 0), ("t10k", 160, 1)):
        write_idx(str(data / f"{split}-images-idx3-ubyte.gz"), bars(n, seed)[0])
        write_idx(str(data / f"{split}-labels-idx1-ubyte.gz"), np.full(n, 3, np.uint8))
    recipe = tiny["tmp"] / "threes.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", str(data)))
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gpu_check.py"), "best", "--arch", tiny["arch"],
                        "--recipe", str(recipe), "--idx", str(data), "--epochs", "2", "--precision", "float32"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    last = [json.loads(line) for line in r.stdout.splitlines()][-1]
    assert last["epoch"] == 2 and last["val_accuracy"] == 1.0, last

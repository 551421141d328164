"""`inception-keras predict MODEL_OR_RUN IMAGE... [--top N]` (issue 14, item 5), on PNG and JPEG files the
test writes: class names from the run's data set or ImageNet's list, the image prepared as the training
pipeline prepares it, errors naming the file."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import TINY_ARCH, bars, cli, write_bars

import inception_keras as ik
from inception_keras.cli.app import main
from inception_keras.data.idx import FASHION_MNIST_CLASSES
from inception_keras.lang.parse import load_arch
from inception_keras.serve.predict import imagenet_classes, predict

pytestmark = pytest.mark.e2e


def write_image(path, array_u8):
    import tensorflow as tf

    a = tf.constant(array_u8, tf.uint8)
    blob = tf.io.encode_png(a) if str(path).endswith(".png") else tf.io.encode_jpeg(a, quality=90)
    tf.io.write_file(str(path), blob)
    return str(path)


@pytest.fixture(scope="module")
def fmnist_run(tmp_path_factory):
    """A tiny network trained for 3 epochs on the bars data set, declared as fashion_mnist (IDX files)."""
    from inception_keras.engine.trainer import train

    tmp = tmp_path_factory.mktemp("predict")
    data = write_bars(str(tmp / "data"))
    (tmp / "tiny.yaml").write_text(TINY_ARCH)
    (tmp / "recipe.yaml").write_text(f"name: fm\ndataset: {{name: fashion_mnist, kind: idx, path: {data}}}\n"
                                     "epochs: 3\nbatch_size: 32\noptimizer: {name: adam, learning_rate: 0.01}\n")
    run = str(tmp / "run")
    train(str(tmp / "tiny.yaml"), str(tmp / "recipe.yaml"), run_dir=run, verbose=0, log=lambda *a: None)
    return run, tmp


def numpy_bilinear(image, height, width):
    """Bilinear resize with half-pixel centres (tf.image.resize's, the validation pipeline's), in NumPy float64."""
    def taps(n, m):
        s = (np.arange(m) + 0.5) * n / m - 0.5
        low = np.floor(s)
        return np.clip(low, 0, n - 1).astype(int), np.clip(low + 1, 0, n - 1).astype(int), s - low
    y0, y1, fy = taps(image.shape[0], height)
    x0, x1, fx = taps(image.shape[1], width)
    rows = image[y0] * (1 - fy)[:, None, None] + image[y1] * fy[:, None, None]
    return rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]


def numpy_input(image_u8, input_shape):
    """What validation feeds the network, computed here without the package or TensorFlow: channels converted
    (grey copied to RGB; RGB to ITU-R 601 luma, back to uint8 as tf.image.rgb_to_grayscale rounds), a bilinear
    resize, / 255."""
    height, width, channels = input_shape
    x = np.asarray(image_u8)
    if x.shape[-1] == 1 and channels == 3:
        x = np.repeat(x, 3, axis=-1)
    elif x.shape[-1] == 3 and channels == 1:
        luma = (x.astype(np.float32) / np.float32(255) * np.array([0.2989, 0.587, 0.114], np.float32)).sum(-1)
        x = np.floor(luma * np.float32(255.5)).astype(np.uint8)[..., None]
    x = x.astype(np.float64)
    if x.shape[:2] != (height, width):
        x = numpy_bilinear(x, height, width)
    return x / 255.0


def pipeline_probabilities(model, images_u8, input_shape):
    """Softmax of the model's logits on uint8 images prepared independently (numpy_input): what predict must
    print if it prepares an image file as validation does."""
    x = np.stack([numpy_input(image, input_shape) for image in images_u8]).astype(np.float32)
    logits = np.asarray(model(x, training=False), np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def parse(stdout: str) -> dict:
    """{image: [(probability, class, name), ...]} from predict's output."""
    out, current = {}, None
    for line in stdout.splitlines()[1:]:
        if not line.strip():
            continue
        if not line.startswith("  "):
            current = line.split(" (")[0]
            out[current] = []
        else:
            p, c, name = line.split(None, 2)
            out[current].append((float(p), int(c), name))
    return out


def test_run_on_fashion_mnist_names_its_classes_and_prepares_images_as_training_does(fmnist_run, capsys):
    import keras

    run, tmp = fmnist_run
    x, _ = bars(3, seed=7)
    grey = [x[0][..., None], x[1][..., None]]  # 28x28x1, as the IDX files hold them
    rgb = np.repeat(x[2][..., None], 3, axis=-1)
    rgb[..., 0] = np.minimum(255, rgb[..., 0].astype(int) + 40)  # an RGB image that is not grey
    png = [write_image(tmp / "a.png", grey[0]), write_image(tmp / "b.png", grey[1])]
    jpg = write_image(tmp / "c.jpg", rgb)
    assert main(["predict", run, *png, jpg, "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"model: {os.path.join(run, 'model.keras')} (input 16x16x1, 10 classes; "
                                          "names: Fashion-MNIST)")
    got = parse(out)
    assert list(got) == [*png, jpg] and all(len(v) == 3 for v in got.values())
    model = keras.models.load_model(os.path.join(run, "model.keras"), compile=False)
    import tensorflow as tf

    decoded = tf.io.decode_jpeg(open(jpg, "rb").read()).numpy()  # what the JPEG holds (lossy; Pillow's chroma
    # upsampling differs by a few levels), prepared below in NumPy
    want = np.concatenate([pipeline_probabilities(model, grey, (16, 16, 1)),
                           pipeline_probabilities(model, [decoded], (16, 16, 1))])
    for (path, top), p in zip(got.items(), want):
        order = np.argsort(-p, kind="stable")[:3]
        assert [c for _, c, _ in top] == order.tolist(), path
        assert [name for _, _, name in top] == [FASHION_MNIST_CLASSES[c] for c in order]
        assert np.allclose([q for q, _, _ in top], p[order], atol=1e-4), (path, top, p[order])
        assert top[0][0] >= top[1][0] >= top[2][0]


def test_1000_classes_take_imagenet_names_and_grey_becomes_rgb(tmp_path, capsys):
    import keras

    spec = load_arch("t.yaml", text=TINY_ARCH.replace("[16, 16, 1]", "[24, 24, 3]").replace("classes: 10",
                                                                                             "classes: 1000"))
    model = ik.build_model(spec)
    path = str(tmp_path / "m.keras")
    model.save(path)
    grey = bars(1, seed=3)[0][0][..., None]
    png = write_image(tmp_path / "grey.png", grey)
    assert main(["predict", path, png, "--top", "4"]) == 0
    out = capsys.readouterr().out
    names = imagenet_classes()
    assert len(names) == 1000 and names[:2] == ["tench", "goldfish"] and names[-1] == "toilet tissue"
    assert "(input 24x24x3, 1000 classes; names: ImageNet-1k)" in out.splitlines()[0]
    top = parse(out)[png]
    assert all(name == names[c] for _, c, name in top)
    rgb = np.repeat(grey, 3, axis=-1)  # the pipeline's grey -> RGB: the same value in R, G and B
    p = pipeline_probabilities(keras.models.load_model(path, compile=False), [grey], (24, 24, 3))[0]
    assert np.allclose(p, pipeline_probabilities(model, [rgb], (24, 24, 3))[0], atol=1e-7)
    assert [c for _, c, _ in top] == np.argsort(-p, kind="stable")[:4].tolist()

    core = np.random.default_rng(5).integers(0, 256, (28, 28, 3), dtype=np.uint8)
    wide = write_image(tmp_path / "wide.png", np.concatenate([np.zeros((28, 20, 3), np.uint8), core,
                                                              np.full((28, 20, 3), 255, np.uint8)], axis=1))
    result = predict(path, [wide], top=1000, resize="crop")  # the centre square: core
    cropped = {c: q for c, _, q in result["predictions"][0]["top"]}
    p = pipeline_probabilities(model, [core], (24, 24, 3))[0]
    assert np.allclose([cropped[c] for c in range(1000)], p, atol=1e-6)

    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"thing {i}" for i in range(999)) + "\n")
    assert main(["predict", path, png, "--labels", str(labels)]) == 2
    assert f"error: {labels}: 999 class names for a model of 1000 classes" in capsys.readouterr().err


def test_bad_images_and_models_exit_2_naming_the_file(fmnist_run, tmp_path, capsys):
    run, tmp = fmnist_run
    good = write_image(tmp_path / "ok.png", bars(1, seed=1)[0][0][..., None])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    broken = tmp_path / "broken.png"
    broken.write_bytes(open(good, "rb").read()[:40])
    missing = tmp_path / "missing.jpg"
    r = cli("predict", run, good, missing)  # a real process: exit 2, the error, no traceback, nothing on stdout
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == "", r.stderr
    assert r.stderr == f"error: {missing}: no such image file\n"
    for image, message in ((text, "not a PNG, JPEG, GIF or BMP image"), (broken, "cannot decode the image")):
        assert main(["predict", run, good, str(image)]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.startswith(f"error: {image}: {message}"), captured.err
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"")
    for target, message in ((tmp_path / "nothing", "no such run directory or model file"),
                            (weights, "not a run directory or a .keras model file")):
        assert main(["predict", str(target), good]) == 2
        assert capsys.readouterr().err.startswith(f"error: {target}: {message}")
    r = cli("predict", run, good, "--top", "2")
    assert r.returncode == 0 and len(parse(r.stdout)[good]) == 2
    print(r.stdout)

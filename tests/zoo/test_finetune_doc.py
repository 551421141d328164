"""docs/finetune.md's Python block, run as written with three substitutions: a local weights file (written by
create_model with seeded weights) for "imagenet" (zoo-b's presets serve the real file through a mirror), a
folder of real PNGs (5 classes) for "flowers", and one epoch for three. Then what the doc promises: the backbone
kept the file's weights, the new 5-class head learnt, and the block is under 15 lines."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
from conftest import ROOT

pytestmark = pytest.mark.e2e


def doc_block() -> str:
    text = open(os.path.join(ROOT, "docs", "finetune.md"), encoding="utf-8").read()
    section = text.split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_block_is_under_15_lines_and_uses_the_public_api():
    code = doc_block()
    assert len(code.strip().splitlines()) < 15
    assert "ik.create_model(" in code and "model.fit(" in code and "inception_keras." not in code


def test_finetune_block_runs_and_trains_the_new_head_only(tmp_path, monkeypatch):
    import keras
    from PIL import Image

    import inception_keras as ik

    keras.utils.set_random_seed(0)
    weights = str(tmp_path / "imagenet.weights.h5")
    ik.create_model("inception_v3").save_weights(weights)
    rng = np.random.default_rng(0)
    for c in range(5):
        os.makedirs(tmp_path / "flowers" / f"class{c}")
        for i in range(4):
            pixels = np.clip(rng.normal(40 + 40 * c, 20, (40, 40, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(tmp_path / "flowers" / f"class{c}" / f"{i}.png")
    code = doc_block()
    for old, new in (('weights="imagenet"', f"weights={weights!r}"), ('"flowers"', repr(str(tmp_path / "flowers"))),
                     ("epochs=3", "epochs=1")):
        assert old in code
        code = code.replace(old, new)
    scope: dict = {}
    exec(compile(code, "docs/finetune.md", "exec"), scope)  # noqa: S102 - the documented code itself
    model = scope["model"]
    assert model.output_shape == (None, 5) and model.history.history["accuracy"]
    reference = ik.create_model("inception_v3")
    reference.load_weights(weights)
    for name in ("mixed10", "stem.conv1"):  # frozen: the file's weights, unchanged by fit
        layer = next(la for la in model.layers if la.name.startswith(name) and la.weights)
        for a, b in zip(layer.get_weights(), reference.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)
    head = model.layers[-1]
    assert head.trainable and head.get_weights()[0].shape == (2048, 5)

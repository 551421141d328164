"""Issue 33 (hardening, round four), items 5-7: each hostile input is a row (what is planted, the command, the
expected exit status and message), run in-process where the command refuses before TensorFlow starts and as a
real process where it trains; one `error:` line, exit 2, no traceback, in seconds."""
from __future__ import annotations

import os
import re

import pytest
from conftest import TINY_ARCH, TINY_RECIPE, cli

from inception_keras.cli.app import main


def one_error(capsys, argv) -> str:
    """Run the command in-process: exit 2 and exactly one `error:` line, no traceback; return that line."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert sum(line.startswith("error:") for line in err.splitlines()) == 1 and "Traceback" not in err, err
    return next(line for line in err.splitlines() if line.startswith("error:"))


# ----------------------------------------------------------------------------- fine-tune phases (item 7)

PHASES = [  # (the recipe's `phases:` value, what the one error line says)
    ("[{epoch: -1}]", r"phases\[0\]\.epoch: expected an integer > 0, got -1"),
    ("[{epoch: 0}]", r"phases\[0\]\.epoch: expected an integer > 0, got 0"),
    ("[{epoch: 2.5}]", r"phases\[0\]\.epoch: expected an integer > 0, got 2\.5"),
    ('[{epoch: "2"}]', r"phases\[0\]\.epoch: expected an integer > 0, got '2' \(a string\)"),
    ("[{epoch: null}]", r"phases\[0\]\.epoch: expected an integer > 0, got nothing"),
    ("[{freeze: []}]", r"phases\[0\]: a phase is missing required key 'epoch'"),
    ("[{}]", r"phases\[0\]: a phase is missing required key 'epoch'"),
    ("[{epoch: 3}, {epoch: 2}]", r"phases\[1\]\.epoch: expected an epoch above 3"),
    ("[{epoch: 2}, {epoch: 2}]", r"phases\[1\]\.epoch: expected an epoch above 2"),
    ("[{epoch: 9}]", r"phases\[0\]\.epoch: the run has 3 epochs; a phase starting at epoch 9 never runs"),
    ("[{epoch: 2, freeze: 3}]", r"phases\[0\]\.freeze: expected a list, got 3"),
    ("[{epoch: 2, freeze: [1]}]", r"phases\[0\]\.freeze: expected a list of stage, block or layer names"),
    ("[3]", r"phases\[0\]: a phase must be a mapping"),
]


@pytest.mark.parametrize("phases, message", PHASES, ids=[p for p, _ in PHASES])
def test_bad_phases_are_one_error_at_their_line(tmp_path, capsys, phases, message):
    arch, recipe = tmp_path / "tiny.yaml", tmp_path / "r.yaml"
    arch.write_text(TINY_ARCH)
    recipe.write_text(TINY_RECIPE.replace("DATA", str(tmp_path)) + f"phases: {phases}\n")
    line = one_error(capsys, ["config", "--arch", arch, "--recipe", recipe])
    assert re.search(r"r\.yaml:7:\d+: " + message, line), line


@pytest.mark.e2e
def test_a_png_cut_before_its_end_chunk_is_named_without_tensorflows_op_text(tmp_path):
    """PIL decodes a PNG missing its IEND chunk, TensorFlow does not: the error names the file in plain words
    (before: exit 1, "training failed on the input data: Graph execution error:" and the op's text)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        os.makedirs(tmp_path / "imgs" / c)
        for i in range(6):
            Image.fromarray((rng.random((16, 16, 3)) * 255).astype("uint8")).save(tmp_path / "imgs" / c / f"{i}.png")
    bad = tmp_path / "imgs" / "a" / "3.png"
    bad.write_bytes(bad.read_bytes()[:-12])
    (tmp_path / "a.yaml").write_text(TINY_ARCH.replace("[16, 16, 1]", "[16, 16, 3]").replace("classes: 10",
                                                                                               "classes: 2"))
    (tmp_path / "r.yaml").write_text("name: t\ndataset: {name: f, kind: image_folder, path: imgs, "
                                     "validation_fraction: 0.25}\nepochs: 1\nbatch_size: 4\nseed: 1\n"
                                     "optimizer: {name: adam, learning_rate: 0.01}\n")
    p = cli("train", "--arch", "a.yaml", "--recipe", "r.yaml", "--run-dir", "run", cwd=tmp_path)
    errors = [x for x in p.stderr.splitlines() if x.startswith("error:")]
    assert p.returncode == 2 and len(errors) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "imgs/a/3.png: the image does not decode (Invalid PNG data" in errors[0], errors
    assert "{{" not in errors[0] and "Op:" not in errors[0] and "Graph execution" not in errors[0]

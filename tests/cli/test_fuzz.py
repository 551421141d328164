"""Property-based fuzzing (Hypothesis) of every reader: generated text and mutated valid files (bytes flipped,
inserted, deleted, cut) fed to the architecture and recipe readers, `--set`, a run's config.yaml, state.json and
metrics.csv, safetensors and npz state dicts, IDX files and image headers. Each must answer with a ConfigError
(the CLI's exit 2 and `error:` line) or a value, never another exception, within a memory bound.

The seed is fixed (`derandomize`) and the example counts small, so the suite stays fast (about 30 s); a release
runs many more with `INCEPTION_KERAS_FUZZ_EXAMPLES=2000 python -m pytest tests/cli/test_fuzz.py` (docs/reliability.md).
"""
from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import tracemalloc

import numpy as np
import pytest
from conftest import TINY_ARCH, TINY_RECIPE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inception_keras.errors import ConfigError

EXAMPLES = int(os.environ.get("INCEPTION_KERAS_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MEMORY = 64 << 20  # the most a reader may allocate (tracemalloc's peak) for any of these small inputs

# control characters, YAML's syntax and multi-byte characters are over-represented on purpose
CHARS = st.sampled_from(list("\x00\x01\x07\x1b\t\n\r :-[]{},'\"&*!|>%@`#?=.0123456789eE+") + ["é", "\u2028", "\ufeff"])
TEXT = st.one_of(st.text(max_size=200), st.text(CHARS, max_size=200))


@st.composite
def mutated(draw, seed: bytes, max_edits: int = 8):
    """`seed` with up to `max_edits` bytes flipped, inserted or deleted, or cut short."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, max_edits))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = bytes(draw(st.lists(st.integers(0, 255), min_size=1, max_size=8)))
        elif op == "delete" and data:
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "cut":
            del data[at:]
    return bytes(data)


def refused_or_read(read, *args):
    """Call a reader: a ConfigError (with a first line to print) or a value, within MEMORY (tracemalloc's peak
    during the call); anything else fails the test."""
    tracemalloc.start()
    try:
        return read(*args)
    except ConfigError as e:
        assert str(e).splitlines() and str(e).splitlines()[0].strip(), "an empty error message"
        return None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MEMORY, f"{read.__name__} allocated {peak:,} bytes"


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as d:
        yield d


def put(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


@FUZZ
@given(data=st.one_of(mutated(TINY_ARCH.encode()), TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_architecture_files(scratch, data):
    from inception_keras.lang.parse import load_arch

    refused_or_read(load_arch, put(scratch, "arch.yaml", data))


@FUZZ
@given(data=st.one_of(mutated(TINY_RECIPE.replace("DATA", "/nowhere").encode()),
                      TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_recipe_files(scratch, data):
    from inception_keras.lang.recipe import load_recipe

    refused_or_read(load_recipe, put(scratch, "recipe.yaml", data))


@FUZZ
@given(items=st.lists(st.one_of(TEXT, st.builds(lambda k, v: f"{k}={v}", TEXT, TEXT),
                                st.builds(lambda v: f"optimizer.learning_rate={v}", TEXT)), max_size=4))
def test_set_values(items):
    from inception_keras.lang.overrides import parse_sets

    refused_or_read(parse_sets, items)


@FUZZ
@given(items=st.lists(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["seed", "x", "a.b"]), TEXT), max_size=3))
def test_sweep_grids(items):
    from inception_keras.experiments.grid import parse_grid

    refused_or_read(parse_grid, items)


CONFIG = (b"# resolved configuration\narch:\n  name: tiny\n  input: [16, 16, 1]\n  classes: 10\nrecipe:\n  name: r\n"
          b"  epochs: 3\n  seed: 1\n")


@FUZZ
@given(data=mutated(CONFIG))
def test_run_config(scratch, data):
    from inception_keras.runs import load_config

    put(scratch, "config.yaml", data)
    refused_or_read(load_config, scratch)


@FUZZ
@given(data=st.one_of(mutated(json.dumps({"status": "running", "epochs_done": 2, "epochs": 3}).encode()),
                      st.binary(max_size=64)))
def test_state_json(scratch, data):
    from inception_keras.runs import read_state

    put(scratch, "state.json", data)
    refused_or_read(read_state, scratch)


METRICS = b"epoch,loss,accuracy,val_loss,val_accuracy,seconds\n1,2.0,0.3,1.9,0.35,4.1\n2,1.5,0.5,1.6,0.5,4.0\n"


@FUZZ
@given(data=mutated(METRICS, 12))
def test_metrics_csv_never_raises(scratch, data):
    from inception_keras.runs import read_metrics

    heard = []
    frame = refused_or_read(read_metrics, put(scratch, "metrics.csv", data), lambda f, m: heard.append(m))
    assert frame is not None or heard  # an unreadable file is always said


def safetensors_bytes() -> bytes:
    from inception_keras.weights.state_dict import write_safetensors

    with tempfile.TemporaryDirectory() as d:
        write_safetensors(os.path.join(d, "s.safetensors"), {"a": np.ones((2, 3), np.float32),
                                                             "b": np.arange(4, dtype=np.float32)})
        with open(os.path.join(d, "s.safetensors"), "rb") as f:
            return f.read()


def npz_bytes() -> bytes:
    out = io.BytesIO()
    np.savez(out, a=np.ones((2, 3), np.float32), b=np.arange(4, dtype=np.float32))
    return out.getvalue()


@FUZZ
@given(data=st.data())
def test_state_dicts(scratch, data):
    from inception_keras.weights.state_dict import load_state_dict

    kind = data.draw(st.sampled_from(["safetensors", "npz"]))
    seed = safetensors_bytes() if kind == "safetensors" else npz_bytes()
    blob = data.draw(mutated(seed, 4))
    tensors = refused_or_read(load_state_dict, put(scratch, f"s.{kind}", blob))
    for a in (tensors or {}).values():  # whatever is accepted is finite real numbers
        assert a.dtype.kind in "fiu" and np.isfinite(a).all()


@FUZZ
@given(data=mutated(struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">3I", 2, 3, 3) + bytes(18), 6))
def test_idx_files(scratch, data):
    from inception_keras.data.idx import read_idx

    refused_or_read(read_idx, put(scratch, "x-idx3-ubyte", data), 3)


def image_bytes(fmt: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    frames = [Image.new("L" if fmt != "GIF" else "P", (6, 5), i * 40) for i in range(3)]
    frames[0].save(out, format=fmt, **({"save_all": True, "append_images": frames[1:]} if fmt == "GIF" else {}))
    return out.getvalue()


@FUZZ
@given(data=st.data())
def test_image_headers(data):
    from inception_keras.data.folders import check_image_header

    blob = data.draw(mutated(image_bytes(data.draw(st.sampled_from(["PNG", "GIF", "BMP", "JPEG"]))), 6))
    refused_or_read(check_image_header, "x.img", blob)

"""Shared fixtures: a tiny network, a tiny recipe and a small learnable IDX data set written by the test; and the
test tiers (docs/testing.md): a test marked neither `e2e` nor `golden` can import no TensorFlow or Keras and start no
process, and under INCEPTION_KERAS_TEST_NO_TF=1 (`make test-fast`) the whole process can import neither."""
from __future__ import annotations

import contextlib
import gzip
import importlib
import importlib.abc
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# tests/<package>/ mirrors inception_keras/<package>/; a few tests share helpers across packages by module name
# (`from test_paper import make_image_folder`), so every package's folder is importable.
TESTS = os.path.join(ROOT, "tests")
sys.path.extend(os.path.join(TESTS, d) for d in sorted(os.listdir(TESTS))
                if os.path.isdir(os.path.join(TESTS, d)) and not d.startswith((".", "_")) and d != "fixtures")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TINY_ARCH = """\
name: tiny
input: [16, 16, 1]
classes: 10
stages:
  s1:
    - conv: {filters: 8, kernel: 3, stride: 2}
  s2:
    - inception: {name: 2a, 1x1: 4, 3x3_reduce: 4, 3x3: 4, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}
    - maxpool: {size: 3, stride: 2}
    - global_avgpool
  head:
    - dense: {}
"""

TINY_RECIPE = """\
name: tiny
dataset: {name: bars, kind: idx, path: DATA}
epochs: 3
batch_size: 32
optimizer: {name: adam, learning_rate: 0.01}
seed: 1
"""


# ---- the tiers -------------------------------------------------------------------------------------------------
TIER_MARKERS = ("e2e", "golden")
BLOCKED = ("tensorflow", "keras")
NO_TF_ENV = "INCEPTION_KERAS_TEST_NO_TF"
MARK_IT = ("mark the test @pytest.mark.e2e (it spawns the command line or trains with TensorFlow) or "
           "@pytest.mark.golden (it runs a reference framework); unmarked tests form `make test-fast` and "
           "import no TensorFlow/Keras and start no process (docs/testing.md)")


class TierViolation(RuntimeError):
    """An unmarked test started a process (not an OSError, so no `except OSError` fallback hides it)."""


class TierImportError(ImportError):
    """TensorFlow or Keras imported where the tier forbids it (an ImportError: optional probes fall back)."""


def blocked(name: str) -> bool:
    return name.partition(".")[0] in BLOCKED


# what the guard refused during the current test: a refusal that the code under test caught (a broad `except`
# around a tfds call, say) still fails the test
REFUSED: list[str] = []


class TierBlocker(importlib.abc.MetaPathFinder):
    """A meta-path finder that refuses tensorflow, keras and their submodules with `why`."""

    def __init__(self, why: str):
        self.why = why

    def find_spec(self, name, path=None, target=None):
        if blocked(name):
            REFUSED.append(f"import {name}")
            raise TierImportError(f"import {name}: {self.why}")
        return None


if os.environ.get(NO_TF_ENV):
    _early = sorted(n for n in sys.modules if blocked(n) and sys.modules[n] is not None)
    if _early:
        raise RuntimeError(f"{NO_TF_ENV}=1 but {_early[0]} was imported before tests/conftest.py")
    sys.meta_path.insert(0, TierBlocker(f"{NO_TF_ENV}=1 (the fast tier): this process imports no TensorFlow"))


class lazy:  # noqa: N801 - stands where a module name stood
    """A module imported at its first attribute access: a test file that names Keras-backed code at its top stays
    importable in the fast tier, and the import happens inside the test that uses it (where the guard sees it)."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)


def _refuse_process(what: str):
    def refuse(*args, **kwargs):
        REFUSED.append(what)
        raise TierViolation(f"{what} in a test marked neither e2e nor golden: {MARK_IT}")
    return refuse


class _NoPopen(subprocess.Popen):
    def __init__(self, *args, **kwargs):  # refuses before any process starts
        _refuse_process("subprocess.Popen")()


@contextlib.contextmanager
def unmarked_guard():
    """While an unmarked test (and its fixtures) runs: tensorflow/keras cannot be imported (the modules an earlier
    test imported are hidden from sys.modules and given back afterwards) and no process can start."""
    hidden = {n: sys.modules.pop(n) for n in [n for n in sys.modules if blocked(n)]}
    blocker = TierBlocker(f"TensorFlow/Keras in a test marked neither e2e nor golden: {MARK_IT}")
    sys.meta_path.insert(0, blocker)
    patches = [(subprocess, "Popen", _NoPopen)] + [
        (os, name, _refuse_process(f"os.{name}"))
        for name in ("system", "fork", "forkpty", "posix_spawn", "posix_spawnp") if hasattr(os, name)]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, value in patches:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
        sys.meta_path.remove(blocker)
        sys.modules.update(hidden)


def tier(item) -> str | None:
    return next((m for m in TIER_MARKERS if item.get_closest_marker(m) is not None), None)


@contextlib.contextmanager
def allow_refusals():
    """For the tests of the guard itself: what is refused inside does not fail the test afterwards."""
    start = len(REFUSED)
    try:
        yield
    finally:
        del REFUSED[start:]


def _guarded(item):
    if tier(item) is not None:
        return (yield)
    del REFUSED[:]
    with unmarked_guard():
        result = yield
    if REFUSED:
        raise TierViolation(f"{REFUSED[0]} was refused, and the error caught by the code under test: {MARK_IT}")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _guarded(item))


def pytest_configure(config):
    config.addinivalue_line("markers", "may_skip_in_ci(reason): a skip that CI=true tolerates "
                                       "(InceptionNeXt-S/B logits, `make test-golden-full`)")


def pytest_sessionfinish(session, exitstatus):
    """The fast tier's proof: nothing imported TensorFlow or Keras in this process (the blocker stayed first)."""
    if os.environ.get(NO_TF_ENV):
        loaded = sorted(n for n in sys.modules if blocked(n) and sys.modules[n] is not None)
        if loaded or not isinstance(sys.meta_path[0], TierBlocker):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            print(f"\n{NO_TF_ENV}=1 but this process imported {loaded[:3] or 'past a moved blocker'}", file=sys.stderr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skipped test fails: every skip in this suite is one for want of something in the
    environment (torch, Debian's Fashion-MNIST, git history, a private tmpfs), which `make test` installs or
    which CI must have; a skip that always triggers in CI would be a missing test. `may_skip_in_ci` exempts one."""
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and os.environ.get("CI", "").lower() in ("1", "true", "yes")
            and not hasattr(report, "wasxfail") and item.get_closest_marker("may_skip_in_ci") is None):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (an environment skip is a failure in CI): {reason}"


def write_idx(path: str, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def bars(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28 grey images: class c is a bright horizontal bar at row 2 + 2.5c, plus noise. Learnable in seconds."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(y):
        r = int(2 + 2.5 * c)
        x[i, r:r + 2, 3:25] = 230
    return x, y


def write_bars(directory: str, n_train: int = 640, n_test: int = 160, gz: bool = True) -> str:
    os.makedirs(directory, exist_ok=True)
    ext = ".gz" if gz else ""
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        x, y = bars(n, seed)
        write_idx(os.path.join(directory, f"{split}-images-idx3-ubyte{ext}"), x)
        write_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte{ext}"), y)
    return directory


def make_image_folder(root, per_class=20, classes=("circle", "square", "stripe"), split_dirs=False, seed=0):
    """Small images of three drawn shapes, mixed sizes, PNG and JPEG, some greyscale."""
    rng = np.random.default_rng(seed)
    for split in (("train", "val") if split_dirs else ("",)):
        for ci, name in enumerate(classes):
            d = os.path.join(root, split, name)
            os.makedirs(d, exist_ok=True)
            count = per_class if split != "val" else max(2, per_class // 4)
            for i in range(count):
                h, w = int(rng.integers(20, 40)), int(rng.integers(20, 40))
                img = rng.integers(0, 40, (h, w, 3)).astype(np.uint8)
                yy, xx = np.mgrid[:h, :w]
                if ci == 0:
                    mask = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 3) ** 2
                elif ci == 1:
                    mask = (abs(yy - h / 2) < h / 4) & (abs(xx - w / 2) < w / 4)
                else:
                    mask = (yy // 3) % 2 == 0
                img[mask] = (230, 200, 60)
                image = Image.fromarray(img)
                if i % 3 == 0:
                    image = image.convert("L")
                ext = "png" if i % 2 else "jpg"
                image.save(os.path.join(d, f"{name}{i}.{ext}"))
    return str(root)


@pytest.fixture
def tiny(tmp_path):
    """Paths of a tiny architecture, a tiny recipe and its IDX data, in a temporary directory."""
    data = write_bars(str(tmp_path / "data"))
    arch = tmp_path / "tiny.yaml"
    arch.write_text(TINY_ARCH)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(TINY_RECIPE.replace("DATA", data))
    return {"arch": str(arch), "recipe": str(recipe), "data": data, "tmp": tmp_path}


def cli(*args, env=None, cwd=None, timeout=600):
    """Run `python -m inception_keras ARGS` in a subprocess; return the CompletedProcess."""
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, **(env or {}))
    return subprocess.run([sys.executable, "-m", "inception_keras", *map(str, args)], capture_output=True,
                          text=True, env=full_env, cwd=cwd or ROOT, timeout=timeout)

"""The test tiers (docs/testing.md): a test marked neither `e2e` nor `golden` imports no TensorFlow or Keras and
starts no process (tests/conftest.py refuses both while it runs), and `make test-fast` runs exactly those tests in a
process where TensorFlow and Keras cannot be imported at all (INCEPTION_KERAS_TEST_NO_TF=1)."""
from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys

import pytest
from conftest import MARK_IT, NO_TF_ENV, REFUSED, ROOT, TierViolation, allow_refusals


def test_an_unmarked_test_can_import_no_tensorflow_and_start_no_process():
    with allow_refusals():
        for name in ("tensorflow", "keras", "keras.layers", "tensorflow.python"):
            with pytest.raises(ImportError, match=re.escape(MARK_IT)):
                importlib.import_module(name)
        with pytest.raises(TierViolation, match=re.escape(MARK_IT)):
            subprocess.run([sys.executable, "-c", "pass"])
        with pytest.raises(TierViolation, match=re.escape(MARK_IT)):
            os.system("true")
        # each refusal is recorded, so that code which catches the error does not hide it (the generated test
        # below shows that such a test fails)
        assert REFUSED == ["import tensorflow", "import keras", "import keras", "import tensorflow",
                           "subprocess.Popen", "os.system"]


def recipe(target: str) -> str:
    """The commands of a Makefile target (its tab-indented lines)."""
    text = open(os.path.join(ROOT, "Makefile"), encoding="utf-8").read()
    block = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.M)
    assert block, f"no target {target} in the Makefile"
    return block.group(1)


def test_make_test_fast_runs_the_unmarked_tests_with_tensorflow_blocked_and_make_test_runs_all():
    fast = recipe("test-fast")
    assert f"{NO_TF_ENV}=1 " in fast and '-m "not e2e and not golden"' in fast and "-n 0" in fast
    assert "-m pytest" in recipe("test") and not re.search(r"-m ['\"]", recipe("test"))  # the whole suite
    assert '-m "e2e and not golden"' in recipe("test-e2e") and "-m golden" in recipe("test-golden")


GENERATED = '''\
import subprocess
import sys

import pytest


def test_unmarked_imports_tensorflow():
    import tensorflow  # noqa: F401


def test_unmarked_starts_a_process():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_unmarked_hides_the_refusal():
    try:
        import keras  # noqa: F401
    except Exception:  # noqa: BLE001 - as code under test might
        pass


@pytest.mark.e2e
def test_marked_starts_a_process():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
'''


def run_pytest(directory, *args, env=None):
    """pytest in a fresh process on generated files, with the project's tests/conftest.py as a plugin."""
    full_env = {k: v for k, v in os.environ.items() if k != NO_TF_ENV}
    full_env.update(PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "tests"), ROOT]), **(env or {}))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-c",
                           os.path.join(ROOT, "setup.cfg"), "-q", "-rf", "-n", "0", *args], cwd=directory, env=full_env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.e2e
def test_the_guard_fails_an_unmarked_test_that_imports_tensorflow_or_starts_a_process(tmp_path):
    (tmp_path / "test_generated.py").write_text(GENERATED)
    out = run_pytest(tmp_path, str(tmp_path / "test_generated.py"))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "3 failed, 1 passed" in out.stdout, out.stdout
    failed = [line for line in out.stdout.splitlines() if line.startswith("FAILED")]
    assert {line.split("::")[1].split()[0] for line in failed} == {
        "test_unmarked_imports_tensorflow", "test_unmarked_starts_a_process", "test_unmarked_hides_the_refusal"}
    assert out.stdout.count("mark the test @pytest.mark.e2e") >= 3  # each failure says what to do
    assert "import keras was refused, and the error caught by the code under test" in out.stdout


@pytest.mark.e2e
def test_the_fast_tier_blocks_tensorflow_for_the_whole_process(tmp_path):
    """Under INCEPTION_KERAS_TEST_NO_TF=1 a test file that imports TensorFlow cannot even be collected, marked or
    not: nothing in the fast tier's process gets TensorFlow, not a helper imported at a file's top."""
    (tmp_path / "test_top.py").write_text("import pytest\nimport tensorflow  # noqa: F401\n\n\n"
                                          "@pytest.mark.e2e\ndef test_marked():\n    pass\n")
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    out = run_pytest(tmp_path, "-m", "not e2e and not golden", env={NO_TF_ENV: "1"})
    assert out.returncode == 2, out.stdout + out.stderr  # a collection error interrupts the run
    assert f"import tensorflow: {NO_TF_ENV}=1 (the fast tier)" in out.stdout, out.stdout
    (tmp_path / "test_top.py").unlink()
    out = run_pytest(tmp_path, "-m", "not e2e and not golden", env={NO_TF_ENV: "1"})
    assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout + out.stderr

"""No tracked file carries a path of the machine it was written on (a home folder, a work folder, pytest's temporary
folders): the repository runs from any clone. Files not yet added but not ignored count too."""
from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import ROOT

# written in pieces so that this file does not match itself
# a path from the root: not the tail of a relative path (runs/work/x)
MACHINE_PATH = re.compile(r"(?<![\w.~-])/" + r"(?:(?:work|root)/|(?:home|Users)/[\w.-]+/|tmp/" + "pytest-of-)")


def repository_files() -> list[str]:
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, timeout=60)
    if out.returncode != 0:
        pytest.skip(f"not a git checkout: {out.stderr.decode(errors='replace').strip()}")
    return sorted({f for f in out.stdout.decode().split("\0") if f})


@pytest.mark.e2e  # asks git for the files
def test_no_file_carries_a_path_of_a_particular_machine():
    found = []
    for name in repository_files():
        path = os.path.join(ROOT, name)
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if b"\0" in data[:8192]:
            continue  # images, archives: no text
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            match = MACHINE_PATH.search(line)
            if match:
                found.append(f"{name}:{number}: {match.group(0)} in {line.strip()[:100]}")
    assert found == []


def test_the_pattern_finds_what_it_is_for():
    for line in ("see /" + "work/main/x", "/" + "root/.cache", "/home/" + "alice/src", "/tmp/" + "pytest-of-root/0"):
        assert MACHINE_PATH.search(line), line
    for line in ("runs/work/x", "/tmp/finetune-demo", "tests/fixtures/x.npz", "~/.keras"):
        assert not MACHINE_PATH.search(line), line

"""The built wheel (not an editable install) carries arch/ and train/: installed into a fresh venv, from an
empty directory, `inception-keras list` shows every network, `summary inception_v3` works, the default
architecture and recipe load, and create_model builds keras.applications' InceptionV3 backbone."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import venv

import pytest
from conftest import ROOT

from inception_keras.lang import catalog

pytestmark = pytest.mark.e2e

SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "inception_keras", "arch", "train")


def sh(*args, cwd, env=None):
    r = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {})))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r.stdout


def test_wheel_installs_the_networks_and_recipes_by_name(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:  # a copy: building leaves build/ and egg-info beside the sources
        copy = shutil.copytree if os.path.isdir(os.path.join(ROOT, name)) else shutil.copy
        copy(os.path.join(ROOT, name), src / name if copy is shutil.copytree else src)
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
       str(src), cwd=tmp_path)
    (wheel,) = glob.glob(str(tmp_path / "dist" / "*.whl"))
    venv.create(tmp_path / "venv", with_pip=False)
    site = glob.glob(str(tmp_path / "venv" / "lib" / "python*" / "site-packages"))[0]
    with open(os.path.join(site, "deps.pth"), "w") as f:  # TensorFlow, Keras and the rest from this interpreter
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    sh(sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, wheel, cwd=tmp_path)
    python = str(tmp_path / "venv" / "bin" / "python")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"PYTHONPATH": ""}
    where = sh(python, "-c", "import inception_keras; print(inception_keras.__file__)", cwd=empty, env=env)
    assert where.startswith(site)
    listed = sh(python, "-m", "inception_keras", "list", cwd=empty, env=env)
    for name in catalog.names(catalog.ARCH) + catalog.names(catalog.RECIPE):
        assert f"\n{name} " in listed
    assert "total: 23,851,784 parameters" in sh(python, "-m", "inception_keras", "summary", "inception_v3", cwd=empty,
                                                 env=env)
    out = sh(python, "-c", "import inception_keras as ik\n"
             "from inception_keras.lang.defaults import DEFAULT_ARCH, DEFAULT_RECIPE\n"
             "from inception_keras.lang.recipe import load_recipe\n"
             "print(ik.load_arch(DEFAULT_ARCH).source, load_recipe(DEFAULT_RECIPE).name)\n"
             "for shape in (None, (171, 171, 3)):\n"
             "    m = ik.create_model('inception_v3', include_top=False, pooling='avg', input_shape=shape)\n"
             "    print(m.output_shape, m.count_params())", cwd=empty, env=env)
    arch, recipe = out.splitlines()[0].split()
    assert arch == os.path.join(site, "inception_keras", "_files", "arch", "googlenet.yaml")
    assert recipe == "fashion_mnist"
    assert out.splitlines()[1:] == ["(None, 2048) 21802784"] * 2  # keras.applications.InceptionV3's, both sizes
    assert not os.listdir(empty)

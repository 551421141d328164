"""The hand-written peers of the benchmarks (docs/performance.md) are in the repository, `make bench-table` uses
them, and each is the seed network: the parameter count of arch/googlenet.yaml, built by PyTorch and by Keras."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

from inception_keras.lang.parse import load_arch

PEERS = os.path.join(ROOT, "tools", "peers")


def test_make_bench_table_uses_the_peers_in_the_repository():
    makefile = open(os.path.join(ROOT, "Makefile"), encoding="utf-8").read()
    (folder,) = re.findall(r"^PEERS \?= (\S+)$", makefile, re.M)
    assert os.path.realpath(os.path.join(ROOT, folder)) == os.path.realpath(PEERS)
    assert sorted(os.listdir(PEERS)) == ["keras_handwritten_googlenet.py", "torch_googlenet.py"]


@pytest.mark.e2e
@pytest.mark.parametrize("peer, framework", [("torch_googlenet.py", "torch"),
                                             ("keras_handwritten_googlenet.py", "tensorflow")])
def test_each_peer_trains_the_seed_network(peer, framework):
    if importlib.util.find_spec(framework) is None:
        pytest.skip(f"no {framework} here (the torch extra: `make test` installs it)")
    out = subprocess.run([sys.executable, os.path.join(PEERS, peer), "--batch", "2", "--steps", "1", "--size", "64"],
                         capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 0, out.stderr[-2000:]
    record = json.loads(out.stdout.strip().splitlines()[-1])
    seed = load_arch(os.path.join(ROOT, "arch", "googlenet.yaml"))
    assert record["params"] == sum(r.params for r in seed.rows) == 5_977_530
    assert record["images_per_second"] > 0

"""`inception_keras.train`: the project's trainer from Python, the fine-tune recipe's freeze and phase keys
reachable as `sets` (issue 31, item 5)."""
from __future__ import annotations

import json
import os
import re

import pytest
import yaml
from conftest import ROOT
from test_train import rows

import inception_keras
from inception_keras.errors import ConfigError

pytestmark = pytest.mark.e2e

def doc_example() -> str:
    """The Python block of docs/finetune.md's section "From Python: the project's trainer"."""
    text = open(os.path.join(ROOT, "docs", "finetune.md"), encoding="utf-8").read()
    section = text.split("## From Python: the project's trainer", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_finetune_doc_python_example_trains_with_freeze_and_phases(tiny, capsys):
    from inception_keras.nn.builder import build_model

    pretrained = str(tiny["tmp"] / "pretrained.keras")
    build_model(tiny["arch"]).save(pretrained)  # a run's model.keras stands in for the pretrained run
    recipe = tiny["tmp"] / "small.yaml"  # the tiny recipe on 128 images: 3 epochs, phase 1 from epoch 3
    recipe.write_text(open(tiny["recipe"]).read().replace("path: ", "limit: 128, path: "))
    run_dir = str(tiny["tmp"] / "run")
    code = doc_example()
    for doc, here in {"docs/finetune/inception_small_new_head.yaml": tiny["arch"],
                      "docs/finetune/finetune.yaml": str(recipe), '["b1", "b2"]': '["s1", "s2"]',
                      "runs/finetune-demo/pretrain": pretrained, "runs/finetune-demo/python": run_dir}.items():
        assert doc in code
        code = code.replace(doc, here)
    namespace: dict = {}
    exec(compile(code, "docs/finetune.md", "exec"), namespace)  # noqa: S102 - the doc's own example
    assert namespace["run"] == run_dir
    printed = capsys.readouterr().out
    assert f"initialized 8 layer(s), 16 tensor(s), from {pretrained}" in printed  # init_from reached the trainer
    assert "phase 1 from epoch 3" in printed
    state = json.load(open(os.path.join(run_dir, "state.json")))
    assert state["status"] == "finished" and state["epochs_done"] == 3
    config = yaml.safe_load(open(os.path.join(run_dir, "config.yaml")))["recipe"]
    assert config["freeze"] == ["s1", "s2"]
    assert config["phases"] == [{"epoch": 3, "freeze": [], "learning_rate": 0.0003}]
    got = rows(run_dir)
    assert [r["phase"] for r in got] == ["0", "0", "1"]
    # phase 0: only the head trains (16 channels x 10 classes + 10); phase 1: everything
    assert [int(r["trainable_params"]) for r in got] == [170, 170, 728]
    assert float(got[2]["learning_rate"]) == pytest.approx(0.0003)
    assert run_dir in printed  # compare_runs' table of the run


def test_sets_as_strings_and_bad_input(tiny):
    """`sets` also takes the command line's key=value strings; a mistake is a ConfigError naming it, before any
    training (no run directory left)."""
    with pytest.raises(ConfigError, match="freeze: no stage, block or layer 'nope' in tiny"):
        inception_keras.train(tiny["arch"], tiny["recipe"], ["epochs=1", "freeze=[nope]"],
                              str(tiny["tmp"] / "bad"), verbose=0, log=lambda *parts: None)
    assert not os.path.exists(tiny["tmp"] / "bad")
    with pytest.raises(TypeError, match="a mapping or a list of 'key=value' strings"):
        inception_keras.train(tiny["arch"], tiny["recipe"], "epochs=1")

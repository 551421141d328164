"""Planning a run before TensorFlow starts: TrainOptions -> Plan, config.yaml back to a plan, run directories."""
from __future__ import annotations

import dataclasses
import os

import pytest
import yaml

from inception_keras import runs
from inception_keras.engine.plan import RUNS_ROOT, TrainOptions, default_runs_root, plan, yaml_round
from inception_keras.errors import ConfigError
from inception_keras.lang.defaults import DEFAULT_ARCH, DEFAULT_RECIPE
from inception_keras.lang.reader import load_document
from inception_keras.lang.resolve import resolve
from inception_keras.runs.config import config_documents


def same_spec(a, b) -> bool:
    return dataclasses.replace(a, source=None) == dataclasses.replace(b, source=None) and a.rows == b.rows


def test_train_options_defaults_are_the_command_lines(monkeypatch):
    o = TrainOptions()
    assert (o.arch, o.recipe, o.runs_root) == (DEFAULT_ARCH, DEFAULT_RECIPE, RUNS_ROOT)
    assert o.arch == "arch/googlenet.yaml" and o.recipe == "train/fashion_mnist.yaml" and o.runs_root == "runs"
    assert TrainOptions(sets=["epochs=2"]).sets == ("epochs=2",) and TrainOptions(sets=None).sets == ()
    assert not o.overrides_given and TrainOptions(limit=5).overrides_given
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.arch = "x"
    monkeypatch.delenv("INCEPTION_KERAS_RUNS", raising=False)
    assert default_runs_root() == "runs"
    monkeypatch.setenv("INCEPTION_KERAS_RUNS", "/srv/runs")
    assert default_runs_root() == "/srv/runs"


def test_options_round_trip_through_plan_and_config_yaml(tiny):
    run = str(tiny["tmp"] / "run")
    options = TrainOptions(tiny["arch"], tiny["recipe"], run_dir=run, sets=("epochs=2", "arch.classes=10"),
                           limit=64)
    new = plan(options)
    assert new.run_dir == run and not new.resuming
    assert new.recipe.epochs == 2 and new.recipe.dataset.limit == 64 and new.spec.name == "tiny"
    os.makedirs(run)
    runs.write_config(run, new.config)

    resumed = plan(TrainOptions(resume=run))  # the run's own configuration, read back from config.yaml
    assert resumed.run_dir == run and resumed.resuming
    assert same_spec(resumed.spec, new.spec) and resumed.recipe.to_dict() == new.recipe.to_dict()
    assert resumed.config == yaml_round(new.config) == runs.read_config(run)

    again = plan(options)  # the same command finds the unfinished run of the same configuration
    assert again.run_dir == run and again.resuming
    with pytest.raises(ConfigError, match=r"different configuration \(recipe\.epochs\); resume it with --resume"):
        plan(dataclasses.replace(options, sets=("epochs=3",)))
    with pytest.raises(ConfigError, match=r"drop --set \(but --set epochs=N, which trains it to N epochs\), --limit, "
                                          r"--data-dir, --strategy"):
        plan(TrainOptions(resume=run, strategy="mirrored"))
    runs.write_state(run, status="finished")
    with pytest.raises(ConfigError, match="this run is finished; it is never overwritten"):
        plan(TrainOptions(resume=run))
    with pytest.raises(ConfigError, match="holds a finished run"):
        plan(options)


def test_default_run_directory_and_multi_worker(tiny):
    root = str(tiny["tmp"] / "runs")
    options = TrainOptions(tiny["arch"], tiny["recipe"], runs_root=root)
    first = plan(options)
    assert os.path.dirname(first.run_dir) == root and os.path.basename(first.run_dir).startswith("tiny-tiny-")
    assert not first.resuming
    os.makedirs(first.run_dir)
    runs.write_config(first.run_dir, first.config)
    assert plan(options).run_dir == first.run_dir and plan(options).resuming
    other = plan(dataclasses.replace(options, sets=("seed=2",)))
    assert other.run_dir != first.run_dir and not other.resuming
    with pytest.raises(ConfigError, match="multi-worker training needs --run-dir"):
        plan(options, multi_worker=True)


def test_a_runs_config_yaml_resolves_with_its_lines_named(tiny):
    run = tiny["tmp"] / "run"
    new = plan(TrainOptions(tiny["arch"], tiny["recipe"], run_dir=str(run)))
    run.mkdir()
    runs.write_config(str(run), new.config)
    path = run / "config.yaml"
    lines = path.read_text().splitlines()
    lines = [ln.replace("epochs: 3", "epochs: 0") for ln in lines]
    epochs_line = next(i for i, ln in enumerate(lines, 1) if ln.strip() == "epochs: 0")
    classes_line = next(i for i, ln in enumerate(lines, 1) if ln.strip() == "classes: 10")
    lines[classes_line - 1] = lines[classes_line - 1].replace("classes: 10", "classes: ten")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as recipe:  # the recipe is resolved first (its initializer sets the arch's)
        resolve(*config_documents(str(run)))
    assert str(recipe.value) == f"{path} (recipe):{epochs_line}:11: epochs: expected an integer > 0, got 0"
    lines[epochs_line - 1] = lines[epochs_line - 1].replace("epochs: 0", "epochs: 3")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as arch:
        resolve(*config_documents(str(run)))
    assert str(arch.value) == (f"{path} (arch):{classes_line}:12: classes: expected an integer > 0, got 'ten' "
                               f"(a string)")
    with pytest.raises(ConfigError, match="not a run directory"):
        resolve(*config_documents(str(tiny["tmp"])))


def test_sub_document_keeps_positions():
    doc = load_document("c.yaml", "arch:\n  name: x\n  stages:\n    - a\nrecipe: {epochs: 2}\n")
    arch = doc.sub("arch", "c.yaml (arch)")
    assert arch.file == "c.yaml (arch)" and arch.data == {"name": "x", "stages": ["a"]}
    assert arch.position(("stages", 0)) == (4, 7, "c.yaml (arch)")
    assert arch.position(("name",), key=True) == (2, 3, "c.yaml (arch)")
    assert doc.sub("recipe").position(("epochs",)) == (5, 18, "c.yaml")
    missing = doc.sub("nothing")
    assert missing.data is None and missing.marks == {} and missing.file == "c.yaml"


def test_read_config_uses_the_yaml_loader(tmp_path):
    assert runs.read_config(str(tmp_path)) is None and runs.read_config(str(tmp_path / "no" / "dir")) is None
    (tmp_path / "config.yaml").write_text("# resolved configuration\n\n")
    assert runs.read_config(str(tmp_path)) is None  # no YAML in it: no configuration
    (tmp_path / "config.yaml").write_text("arch: {name: a}\nrecipe:\n  lr: 1e-4\n")
    assert runs.read_config(str(tmp_path)) == {"arch": {"name": "a"}, "recipe": {"lr": 1e-4}}
    assert runs.load_config(str(tmp_path)).position(("recipe", "lr")) [:2] == (3, 7)
    (tmp_path / "config.yaml").write_text("arch: [1, 2\n")
    with pytest.raises(ConfigError, match=r"config\.yaml:2:1: invalid YAML"):
        runs.read_config(str(tmp_path))
    (tmp_path / "config.yaml").unlink()
    (tmp_path / "config.yaml").mkdir()
    with pytest.raises(ConfigError, match=r"config\.yaml: cannot read: run configuration is a directory, not a file"):
        runs.read_config(str(tmp_path))


def test_yaml_round_is_what_config_yaml_holds():
    config = {"arch": {"input": (16, 16, 1)}, "recipe": {"lr": 0.1, "limit": None}}
    assert yaml_round(config) == {"arch": {"input": [16, 16, 1]}, "recipe": {"lr": 0.1, "limit": None}}
    assert yaml_round(config) == yaml.safe_load(runs.dump_config(config))


def test_an_older_runs_configuration_is_resumed_and_compared_resolved(tiny):
    """A run directory written before recipe keys were added (and with its architecture as written) is the
    same configuration as the same command today: the default run directory resumes it."""
    import yaml

    from inception_keras.engine.plan import TrainOptions, plan

    root = tiny["tmp"] / "runs"
    options = TrainOptions(tiny["arch"], tiny["recipe"], runs_root=str(root))
    first = plan(options)
    old = dict(first.config)
    old["arch"] = yaml.safe_load(open(tiny["arch"]))  # as written
    old["recipe"] = {k: v for k, v in old["recipe"].items() if k not in ("augment", "partial_batch")}
    os.makedirs(first.run_dir)
    runs.write_config(first.run_dir, old)
    runs.write_state(first.run_dir, status="interrupted", epochs_done=0)
    again = plan(options)
    assert again.run_dir == first.run_dir and again.resuming

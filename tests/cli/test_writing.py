"""The one rule for every file a command writes (inception_keras/writing.py, cli/outputs.py), without TensorFlow or a
subprocess: each kind's suffix; --force replaces a regular file or a link (the link itself), never a folder, a FIFO,
a device, a run directory, `.` or a folder above it; the write is a temporary beside the name, synced, checked
again and renamed, and a failure leaves nothing. And: every command flag that names a path is either declared as
an output or known to be read, so that a new writing command cannot miss the rule (tests/cli/test_outputs.py
runs every declared output through the cases as the real commands)."""
from __future__ import annotations

import errno
import os
import re

import pytest

from inception_keras import writing
from inception_keras.errors import ConfigError

VICTIM = "someone else's file\n"


def out(path, kind=writing.PNG, force=False, **kw) -> writing.Output:
    return writing.Output(str(path), kind, force=force, flag="--plot", **kw)


def write(target, data="new\n", kind=writing.PNG) -> None:
    writing.write_new(target, data, kind)


def refused(target, match: str, kind=writing.PNG) -> str:
    with pytest.raises(ConfigError) as info:
        write(target, kind=kind)
    assert re.search(match, str(info.value)), str(info.value)
    return str(info.value)


def leftovers(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith((".tmp-", ".old-")))


def test_each_kind_checks_its_suffix(tmp_path):
    assert refused(out(tmp_path / "a.svg"), "a.svg: the picture is a PNG; name a file ending in .png").startswith(
        f"--plot {tmp_path}/a.svg: ")
    write(out(tmp_path / "b.PNG"))  # a PNG's suffix in any case
    assert (tmp_path / "b.PNG").read_text() == "new\n"
    refused(out(tmp_path / "m.KERAS", writing.MODEL), "name a file ending in .weights.h5 or .keras",
            writing.MODEL)  # Keras itself needs the lower-case suffix
    refused(out(tmp_path / "b.json", writing.TFLITE), "a tflite export is a TFLite file", writing.TFLITE)
    refused(str(tmp_path / "plain.txt"), r"^\S*plain.txt: the figures are written as JSON", writing.JSON)
    assert leftovers(tmp_path) == []


def test_an_existing_file_is_replaced_only_with_force(tmp_path):
    path = tmp_path / "a.png"
    path.write_text("keep me\n")
    refused(out(path), r"a.png: exists; not overwritten \(pass --force to replace it, or choose a new name\)")
    assert path.read_text() == "keep me\n"
    write(out(path, force=True))
    assert path.read_text() == "new\n" and leftovers(tmp_path) == []


def test_force_replaces_a_link_itself_never_its_target(tmp_path):
    victim, link = tmp_path / "victim.txt", tmp_path / "a.png"
    victim.write_text(VICTIM)
    os.symlink(victim, link)
    refused(out(link), "exists; not overwritten")
    assert os.path.islink(link)
    write(out(link, force=True))
    assert not os.path.islink(link) and link.read_text() == "new\n" and victim.read_text() == VICTIM
    (tmp_path / "dir").mkdir()  # a link to a folder: the link is replaced, the folder untouched
    (tmp_path / "dir" / "keep.txt").write_text("mine\n")
    os.symlink(tmp_path / "dir", tmp_path / "d.png")
    write(out(tmp_path / "d.png", force=True))
    assert (tmp_path / "d.png").read_text() == "new\n" and (tmp_path / "dir" / "keep.txt").read_text() == "mine\n"


def test_a_folder_a_fifo_or_a_device_is_never_replaced(tmp_path):
    folder = tmp_path / "d.png"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine\n")
    refused(out(folder, force=True), "d.png: is a folder; an output file never replaces a folder, even with --force")
    (tmp_path / "empty.png").mkdir()
    refused(out(tmp_path / "empty.png", force=True), "is a folder")
    fifo = tmp_path / "f.png"
    os.mkfifo(fifo)
    refused(out(fifo, force=True), r"f.png: exists and is not a regular file \(a pipe, device or socket\); never "
                                   "replaced, even with --force")
    assert (folder / "keep.txt").read_text() == "mine\n" and (tmp_path / "empty.png").is_dir()
    assert os.path.exists(fifo) and not os.path.isfile(fifo) and leftovers(tmp_path) == []
    with pytest.raises(ConfigError, match="/dev/null: exists and is not a regular file"):
        writing.check(writing.Output("/dev/null", writing.Kind("any")), None)  # checked only: nothing is written


def test_a_run_directory_the_working_directory_and_those_above_are_refused_outright(tmp_path, monkeypatch):
    run = tmp_path / "r.png"
    run.mkdir()
    (run / "config.yaml").write_text("name: x\n")
    refused(out(run, force=True), "r.png: is a run directory; never replaced, even with --force")
    refused(out(run / "x.png", force=True), r"r.png is a run directory; only its own trainer writes there")
    here = tmp_path / "w.png"
    here.mkdir()
    (here / "keep.txt").write_text("mine\n")
    monkeypatch.chdir(here)
    for path in ("../w.png", str(here), "."):
        kind = writing.PNG if path.endswith(".png") else writing.SAVED_MODEL  # `.` has no suffix: a folder output
        refused(out(path, kind, force=True), "is the working directory or a folder above it; never replaced, even "
                                             "with --force", kind)
    refused(out("..", writing.SAVED_MODEL, force=True), "is the working directory or a folder above it",
            writing.SAVED_MODEL)
    assert (here / "keep.txt").read_text() == "mine\n" and (run / "config.yaml").exists()
    from inception_keras import runs

    assert writing.RUN_FILES == (runs.CONFIG, runs.STATE)


def saved_model(path) -> None:
    for d in ("", "variables", "assets"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    for f in ("saved_model.pb", "fingerprint.pb", "variables/variables.index",
              "variables/variables.data-00000-of-00001"):
        with open(os.path.join(path, f), "w") as fh:
            fh.write("old\n")


def export_into(target) -> None:
    with writing.output(target, writing.SAVED_MODEL) as tmp:
        saved_model(tmp)
        with open(os.path.join(tmp, "saved_model.pb"), "w") as f:
            f.write("new\n")


def test_a_folder_output_replaces_an_earlier_saved_model_or_an_empty_folder_only(tmp_path):
    sm = tmp_path / "sm"
    saved_model(sm)
    with pytest.raises(ConfigError, match="sm: exists; not overwritten"):
        export_into(out(sm, writing.SAVED_MODEL))
    export_into(out(sm, writing.SAVED_MODEL, force=True))
    assert (sm / "saved_model.pb").read_text() == "new\n" and leftovers(tmp_path) == []
    (sm / "assets" / "notes.txt").write_text("mine\n")  # a SavedModel with something else in it is the user's
    with pytest.raises(ConfigError, match="sm: is a folder that is not a SavedModel; never replaced, even with"):
        export_into(out(sm, writing.SAVED_MODEL, force=True))
    assert (sm / "assets" / "notes.txt").read_text() == "mine\n"
    (tmp_path / "empty").mkdir()
    export_into(out(tmp_path / "empty", writing.SAVED_MODEL, force=True))
    assert (tmp_path / "empty" / "saved_model.pb").read_text() == "new\n" and leftovers(tmp_path) == []
    (tmp_path / "victim.txt").write_text(VICTIM)  # a file or a link at the name: replaced by the folder
    os.symlink(tmp_path / "victim.txt", tmp_path / "link")
    (tmp_path / "file").write_text("old\n")
    for name in ("link", "file"):
        export_into(out(tmp_path / name, writing.SAVED_MODEL, force=True))
        assert writing.is_saved_model(tmp_path / name) and not os.path.islink(tmp_path / name)
    assert (tmp_path / "victim.txt").read_text() == VICTIM and leftovers(tmp_path) == []


def test_a_failed_write_leaves_nothing_and_the_old_file_as_it_was(tmp_path):
    path = tmp_path / "a.png"
    path.write_text("keep me\n")
    with pytest.raises(RuntimeError), writing.output(out(path, force=True), writing.PNG) as tmp:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("killed mid-write")
    with pytest.raises(ConfigError, match=r"a.png: cannot write: No space left on device"):
        with writing.output(out(path, force=True), writing.PNG) as tmp:
            open(tmp, "w").close()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with pytest.raises(RuntimeError), writing.output(out(tmp_path / "sm", writing.SAVED_MODEL), writing.SAVED_MODEL) \
            as tmp:
        saved_model(tmp)
        raise RuntimeError("the converter failed")
    assert path.read_text() == "keep me\n" and sorted(os.listdir(tmp_path)) == ["a.png"]


def test_what_appears_at_the_name_during_the_work_is_judged_again(tmp_path):
    path = tmp_path / "a.png"
    with pytest.raises(ConfigError, match="exists; not overwritten"), writing.output(out(path), writing.PNG) as tmp:
        open(tmp, "w").close()
        path.write_text("written meanwhile\n")
    assert path.read_text() == "written meanwhile\n" and leftovers(tmp_path) == []
    victim = tmp_path / "victim.txt"
    victim.write_text(VICTIM)
    os.symlink(victim, tmp_path / f".tmp-{os.getpid()}-b.png")  # the temporary's name, planted in advance
    write(out(tmp_path / "b.png"))
    assert victim.read_text() == VICTIM and (tmp_path / "b.png").read_text() == "new\n"
    assert leftovers(tmp_path) == []


def test_the_folder_must_exist_unless_the_output_creates_it(tmp_path):
    refused(out(tmp_path / "no" / "a.png"), rf"the folder {tmp_path}/no does not exist")
    write(out(tmp_path / "yes" / "a.png", make_folder=True))
    assert (tmp_path / "yes" / "a.png").read_text() == "new\n"
    (tmp_path / "file").write_text("mine\n")
    refused(out(tmp_path / "file" / "a.png", make_folder=True), "cannot")
    assert (tmp_path / "file").read_text() == "mine\n"


def test_an_output_is_a_path_wherever_one_is_taken(tmp_path):
    o = out(tmp_path / "a.png")
    assert os.fspath(o) == str(o) == f"{o}" == str(tmp_path / "a.png") and writing.path_of(o) == o.path
    assert writing.as_output(str(tmp_path / "a.png"), writing.JSON) == writing.Output(str(tmp_path / "a.png"),
                                                                                      writing.JSON)
    assert writing.as_output(out(tmp_path / "a.png", force=True), writing.JSON).force  # the user's --force kept


# ----------------------------------------------------------------------------- every writing command declared

PATHLIKE = re.compile(r"FILE|PATH|DIR|RUN|MODEL|IMAGE|WEIGHTS|ARCH|RECIPE|\.[a-z]+$")
# Flags that name a path the command reads, or a run/sweep/search directory that the run protocol writes
# (docs/runs.md): everything else that names a path must be a declared output.
READS = {
    "summary": {"arch"}, "config": {"arch", "recipe", "data_dir"},
    "train": {"arch", "recipe", "run_dir", "resume", "init_from", "weights", "data_dir", "runs_root"},
    "sweep": {"arch", "recipe", "sweep_dir", "data_dir", "runs_root"},
    "search": {"space", "arch", "recipe", "search_dir", "data_dir", "runs_root"},
    "track": {"paths", "runs_root"}, "evaluate": {"target", "recipe", "data_dir", "weights"}, "compare": {"runs"},
    "bench": {"arch", "recipe", "data_dir"}, "show": {"arch", "recipe", "data_dir"},
    "import-weights": {"state_dict", "arch", "weights"}, "predict": {"target", "images", "labels", "weights"},
    "export": {"target", "weights"},
    "list": set(),
}


def path_flags(parser) -> set[str]:
    return {a.dest for a in parser._actions if a.nargs != 0 and PATHLIKE.search(str(a.metavar or ""))}


def test_every_flag_that_names_a_path_is_read_or_a_declared_output():
    from inception_keras.cli import app, outputs

    parsers = {c.name: c for c in app.COMMANDS}
    sub = next(a for a in app.parser()._actions if a.dest == "command").choices
    assert set(READS) == set(parsers) and set(outputs.OUTPUTS) <= set(parsers)
    for name, parser in sub.items():
        declared = {outputs.OUTPUTS[name].flag} if name in outputs.OUTPUTS else set()
        assert path_flags(parser) == READS[name] | declared, name
        assert ("force" in {a.dest for a in parser._actions}) == bool(declared), name

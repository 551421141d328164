"""Every command that writes a file the user names (cli/outputs.OUTPUTS, which tests/cli/test_writing.py proves
complete against every command's flags) tried as the real command, on tiny inputs, against what issue 33 found:
a folder of the user's, a link to the user's file, an existing file (without and with --force), a run directory,
and the working directory (`.` and `../NAME`), the last three with --force. The refusals exit 2 with one `error:`
line and leave every file as it was; --force replaces a file, and a link itself (never its target).

The commands run in-process (`main`), as tests/cli/test_hardening.py runs them; TensorFlow is imported once."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import TINY_ARCH, TINY_RECIPE, write_bars

from inception_keras import writing
from inception_keras.cli import outputs
from inception_keras.cli.app import main

pytestmark = pytest.mark.e2e

SPACE = "trials: 1\nseeds: 1\nmetric: val_accuracy\nfixed: {epochs: 1}\nspace:\n  optimizer.learning_rate: " \
        "{log_uniform: [0.002, 0.05]}\n"
# command -> its arguments, OUT standing for the output; the other capitals are the files of `setting`
ARGV = {
    "summary": ["summary", "ARCH", "--plot", "OUT"],
    "compare": ["compare", "RUN", "--plot", "OUT"],
    "sweep": ["sweep", "--arch", "ARCH", "--recipe", "RECIPE", "--set", "seed=0,1", "--sweep-dir", "SWEEP", "--plot",
              "OUT"],
    "search": ["search", "SPACE", "--arch", "ARCH", "--recipe", "RECIPE", "--search-dir", "SEARCH", "--report",
               "--plot", "OUT"],
    "bench": ["bench", "--arch", "ARCH", "--recipe", "RECIPE", "--batch", "4", "--steps", "1", "--windows", "1",
              "--warmup", "1", "--precision", "float32", "--json", "OUT"],
    "show": ["show", "--arch", "ARCH", "--recipe", "RECIPE", "--rows", "1", "--cols", "2", "--out", "OUT"],
    "import-weights": ["import-weights", "timm", "STATE", "--arch", "ARCH", "--out", "OUT"],
    "export": ["export", "MODEL", "--format", "tflite", "--no-check", "--out", "OUT"],
}
SUFFIX = {"summary": ".png", "compare": ".png", "sweep": ".png", "search": ".png", "bench": ".json", "show": ".png",
          "import-weights": ".keras", "export": ".tflite"}


def tiny_state_dict(arch: str) -> dict:
    """A PyTorch-layout state dict for the tiny network (conv OIHW, linear (out, in)), random values."""
    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_model

    rng, state = np.random.default_rng(0), {}
    for i, layer in enumerate(x for x in build_model(load_arch(arch)).layers if x.weights):
        kernel, bias = (np.asarray(w) for w in layer.weights)
        shape = kernel.shape[::-1] if kernel.ndim == 2 else tuple(kernel.shape[i] for i in (3, 2, 0, 1))
        state[f"m{i:02d}.weight"] = rng.normal(0, 0.1, shape).astype(np.float32)
        state[f"m{i:02d}.bias"] = np.zeros(bias.shape, np.float32)
    return state


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """The tiny files; a finished sweep point, a finished one-trial search (one child process), a state dict and
    a .keras model, so that each command's write is cheap."""
    d = tmp_path_factory.mktemp("outputs")
    files = {"ARCH": d / "tiny.yaml", "RECIPE": d / "recipe.yaml", "SPACE": d / "space.yaml",
             "SWEEP": d / "sweep", "SEARCH": d / "search", "STATE": d / "state.npz", "MODEL": d / "model.keras"}
    data = write_bars(str(d / "data"), 64, 32)
    files["ARCH"].write_text(TINY_ARCH)
    files["RECIPE"].write_text(TINY_RECIPE.replace("DATA", data).replace("epochs: 3", "epochs: 1"))
    files["SPACE"].write_text(SPACE)
    files = {k: str(v) for k, v in files.items()}
    np.savez(files["STATE"], **tiny_state_dict(files["ARCH"]))
    for argv in (["import-weights", "timm", files["STATE"], "--arch", files["ARCH"], "--out", files["MODEL"]],
                 ARGV["sweep"][:-2] + ["--index", "0"], ARGV["sweep"][:-2] + ["--index", "1"], ARGV["search"][:-3]):
        assert main([files.get(a, a) for a in argv]) == 0
    files["RUN"] = next(e.path for e in os.scandir(files["SWEEP"]) if e.is_dir())
    assert os.path.isfile(os.path.join(files["RUN"], "metrics.csv"))
    return files


def run(capsys, setting, command: str, out: str, force: bool) -> tuple[int, str]:
    argv = [out if a == "OUT" else setting.get(a, a) for a in ARGV[command]] + (["--force"] if force else [])
    code = main(argv)
    return code, capsys.readouterr().err


def refused(capsys, setting, command, out, force, message: str) -> None:
    code, err = run(capsys, setting, command, out, force)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert errors[0].startswith(f"error: --{outputs.OUTPUTS[command].flag} {out}: ") and message in errors[0], err


def user_folder(path) -> str:
    os.makedirs(path)
    with open(os.path.join(path, "keep.txt"), "w") as f:
        f.write("mine\n")
    return str(path)


def test_every_declared_output_has_its_cases():
    assert set(ARGV) == set(SUFFIX) == set(outputs.OUTPUTS)


@pytest.mark.parametrize("command", sorted(outputs.OUTPUTS))
def test_each_output_refuses_what_is_not_its_own_and_replaces_only_with_force(command, setting, tmp_path, capsys,
                                                                              monkeypatch):
    suffix = SUFFIX[command]
    folder = user_folder(tmp_path / f"folder{suffix}")
    refused(capsys, setting, command, folder, True, "never replace")
    run_dir = user_folder(tmp_path / f"run{suffix}")
    for name in ("config.yaml", "state.json"):
        with open(os.path.join(run_dir, name), "w") as f:
            f.write("{}\n")
    refused(capsys, setting, command, run_dir, True, "is a run directory; never replaced, even with --force")
    victim, link = tmp_path / "victim.txt", str(tmp_path / f"link{suffix}")
    victim.write_text("someone else's file\n")
    os.symlink(victim, link)
    refused(capsys, setting, command, link, False, "exists; not overwritten (pass --force")
    existing = tmp_path / f"existing{suffix}"
    existing.write_text("keep me\n")
    refused(capsys, setting, command, str(existing), False, "exists; not overwritten (pass --force")
    here = user_folder(tmp_path / f"here{suffix}")
    monkeypatch.chdir(here)
    for path in (os.path.join("..", f"here{suffix}"), "."):
        refused(capsys, setting, command, path, True, "" if path == "." else "is the working directory or a folder "
                                                                                "above it; never replaced")
    monkeypatch.chdir(tmp_path)
    assert sorted(os.listdir(folder)) == ["keep.txt"] and sorted(os.listdir(here)) == ["keep.txt"]
    assert sorted(os.listdir(run_dir)) == ["config.yaml", "keep.txt", "state.json"]
    assert os.readlink(link) == str(victim) and existing.read_text() == "keep me\n"

    for path in (link, str(existing)):  # --force: the link itself and the file replaced, the link's target intact
        code, err = run(capsys, setting, command, path, True)
        assert code == 0 and "Traceback" not in err, err
        assert not os.path.islink(path) and os.path.getsize(path) > 100
    assert victim.read_text() == "someone else's file\n" and existing.read_bytes() != b"keep me\n"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]
    if suffix == ".png":
        assert existing.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_saved_model_replaces_only_an_earlier_export(setting, tmp_path, capsys):
    out = str(tmp_path / "sm")
    argv = ["export", setting["MODEL"], "--format", "saved_model", "--no-check", "--out", out]
    assert main(argv) == 0 and writing.is_saved_model(out)
    assert main(argv) == 2 and "sm: exists; not overwritten" in capsys.readouterr().err
    before = os.stat(os.path.join(out, "saved_model.pb")).st_mtime_ns
    assert main(argv + ["--force"]) == 0 and writing.is_saved_model(out)
    assert os.stat(os.path.join(out, "saved_model.pb")).st_mtime_ns != before
    with open(os.path.join(out, "notes.txt"), "w") as f:
        f.write("mine\n")
    assert main(argv + ["--force"]) == 2
    assert "is a folder that is not a SavedModel; never replaced" in capsys.readouterr().err
    assert open(os.path.join(out, "notes.txt")).read() == "mine\n"

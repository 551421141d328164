"""Every `inception-keras ...` command in the fenced blocks of README.md and docs/*.md runs (issue 31, item 4).

The commands are extracted from the files (a line whose first word, after `$ `, `nice -n N` and VAR=value
prefixes, is `inception-keras`; backslash continuations joined; `| ...`, `; ...` and `# ...` cut off), so a new
command in the docs is run by this test, or fails it, without editing the test. They run in a temporary working
directory holding links to arch/, train/ and search/ (nothing the docs name as output lands in the repository),
with these substitutions, which keep the test to a few minutes:

- data: `--data-dir` a tiny IDX set (conftest.write_bars) and `--limit 64 --set epochs=1`;
- train, bench, search: their flags are parsed by the real parser, then their files and overrides are resolved
  as `inception-keras config` resolves them (what `train` would write), without training; README's plain
  `inception-keras train` trains for real (one epoch), and `compare`'s runs are that run;
- sweep: `--list` (the grid and every point's configuration checked, nothing trained);
- import-weights: files written by the references' own code (keras.applications at 75 px) or the state dicts
  the golden fixtures' references were given (torchvision's GoogLeNet, timm's inception_v4 at 139 px), and the
  `bad.*` files the text describes; `photo.jpg` a random picture;
- a command the docs show failing (`$ command` then `error: ...`) must exit 2 with that error.

A command that cannot run here is listed in NOT_RUNNABLE with the reason; a listed pattern that matches no
command fails the test (the list cannot go stale).
"""
from __future__ import annotations

import glob
import os
import re
import shlex

import pytest
from conftest import ROOT, cli, write_bars

pytestmark = pytest.mark.e2e

LINE = re.compile(r"^(?:\$ )?(?:nice -n \d+ )?(?:[A-Z_]+=(?:'[^']*'|\"[^\"]*\"|\S+)\s+)*inception-keras\s")
NOT_RUNNABLE = {  # pattern in the command -> why it cannot run here
    r"RUN\.\.\.|MODEL_OR_RUN|STATE_DICT|CHECKPOINT --arch|SEARCH\.yaml \[|\[--arch ARCH\.yaml\]": "a synopsis with "
    "placeholders",
    r"^TF_CONFIG=": "multi-worker training on two hosts",
    r"--data-dir (IMAGES|DIR)\b": "needs an ImageNet image folder",
    r"/usr/share/datasets/fashion-mnist|--sweep-dir /runs/": "the full Fashion-MNIST study or a Kubernetes volume",
    r"search s\.yaml": "the study files of docs/search.md's example (tests/experiments checks these outputs)",
    r"import-weights timm model\.safetensors --arch arch/inception_next": "timm's published file (a download); "
    "tests/weights/test_family_next.py imports files written by timm's own code",
    r"import-weights slim inception_v[13]\.ckpt": "a Slim checkpoint (tens of MB, from a tarball download); "
    "tests/weights/test_family_slim.py writes checkpoints under Slim's names and imports them",
}


def documented_commands() -> list[tuple[str, str, str]]:
    """(file, command, the doc line after it) for every command in a fenced block."""
    out = []
    docs = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
    for path in ["README.md", *docs]:
        text = open(os.path.join(ROOT, path), encoding="utf-8").read()
        for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M):
            lines = re.sub(r"\\\n\s*", " ", block).splitlines()
            for i, line in enumerate(lines):
                if LINE.match(line.strip()):
                    after = lines[i + 1] if i + 1 < len(lines) else ""
                    out.append((path, line.strip(), after))
    return out


def argv_of(command: str) -> list[str]:
    """The command's arguments after `inception-keras`: `| ...`, `; ...` and comments cut off."""
    command = re.split(r" \| |; ", command)[0]
    words = shlex.split(command, comments=True)
    return words[words.index("inception-keras") + 1:]


def reason(command: str) -> str | None:
    return next((why for pattern, why in NOT_RUNNABLE.items() if re.search(pattern, command)), None)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("docs-cwd")
    for name in ("arch", "train", "search"):
        os.symlink(os.path.join(ROOT, name), d / name)
    os.makedirs(d / "docs")
    data = write_bars(str(d / "bars"), n_train=128, n_test=64)
    _state_dicts(d)
    return d, data


def _state_dicts(d) -> None:
    """googlenet.npz and inception_v4.safetensors (the seeded state dicts of tests/fixtures), the bad.npz and
    bad.safetensors docs/weights.md describes by their errors, and photo.jpg."""
    import numpy as np
    from PIL import Image
    from test_golden import npz, tv_ref, tv_state
    from test_import_weights import write_state

    state = tv_state(tv_ref(224))
    write_state(state, str(d / "googlenet.npz"))
    bad = dict(state, **{"inception4c.branch2.1.conv.weight": np.zeros((256, 128, 5, 5), np.float32),
                         "classifier.weight": np.zeros((10, 1000), np.float32)})
    del bad["fc.bias"]
    write_state(bad, str(d / "bad.npz"))
    write_state(dict(state, **{"fc.weight": state["fc.weight"][:, :1023].copy()}), str(d / "bad.safetensors"))
    write_state(tv_state(npz("timm_inception_v4_139.npz")), str(d / "inception_v4.safetensors"))
    pixels = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(d / "photo.jpg")


def _config_argv(argv: list[str], data: str) -> list[str]:
    """train / bench / search's files and overrides as `config` takes them."""
    keep, i = ["config"], 1
    while i < len(argv):
        flag = argv[i]
        if flag in ("--arch", "--recipe", "--set", "--limit", "--strategy") and i + 1 < len(argv):
            keep += [flag, argv[i + 1]]
            i += 2
            continue
        i += 2 if flag.startswith("--") and i + 1 < len(argv) and not argv[i + 1].startswith("--") else 1
    return keep + ["--data-dir", data, "--limit", "64"]


def _check_parse(argv: list[str]) -> None:
    from inception_keras.cli.app import parser

    try:
        parser().parse_args(argv)
    except SystemExit as e:
        pytest.fail(f"inception-keras {' '.join(argv)}: the parser refuses it (exit {e.code})")


def _keras_file(d) -> str:
    """keras.applications.InceptionV3 at 75 px with its weights, written by Keras' legacy h5 writer."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    path = d / "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
    if not path.exists():
        ref = keras.applications.InceptionV3(weights=None, input_shape=(75, 75, 3))
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, ref)
    return str(path)


def _plan(argv: list[str], data: str, d) -> tuple[list[str] | None, str]:
    """(the argv to run, or None when only the parser checks it; what was substituted)."""
    command = argv[0]
    if command in ("train", "bench", "search"):
        _check_parse(argv)
        return _config_argv(argv, data), "flags parsed; resolved by `config`"
    if command == "sweep":
        return argv + ["--data-dir", data, "--limit", "64", "--list"], "--list"
    if command == "show":
        return argv + ["--data-dir", data, "--limit", "64"], "tiny data"
    if command == "compare":
        return ["compare", *_compare_flags(argv), "runs/*"], "the one real run"
    if command == "import-weights" and argv[1] == "timm" and "inception_v4" in argv[2]:
        return argv + ["--input-shape", "139,139,3"], "at 139 px"
    if command == "import-weights" and argv[1] == "keras":
        return argv[:2] + [_keras_file(d)] + argv[3:] + ["--set", "input=[75,75,3]"], "a 75 px keras.applications file"
    return argv, ""


def _compare_flags(argv: list[str]) -> list[str]:
    out, i = [], 1
    while i < len(argv):
        if argv[i] in ("--plot", "--format", "--metric", "--band"):
            out += argv[i:i + 2]
            i += 2
        elif argv[i].startswith("--"):
            out.append(argv[i])
            i += 1
        else:
            i += 1
    return out


def test_every_listed_reason_matches_a_command():
    commands = [c for _, c, _ in documented_commands()]
    assert len(commands) > 30
    for pattern in NOT_RUNNABLE:
        assert any(re.search(pattern, c) for c in commands), f"NOT_RUNNABLE {pattern!r} matches no command"


def test_readme_error_example_prints_what_the_readme_shows(workdir):
    d, _ = workdir
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    (d / "bad.yaml").write_text(re.search(r"For this `bad\.yaml`:\s*```yaml\n(.*?)```", readme, re.S).group(1))
    shown = re.search(r"\$ inception-keras summary bad\.yaml; echo \"exit \$\?\"\n(.*?)\nexit 2\n```", readme,
                      re.S).group(1)
    r = cli("summary", "bad.yaml", cwd=str(d))
    assert r.returncode == 2 and r.stderr.strip() == shown.strip()


def test_documented_commands_run(workdir, monkeypatch, capsys):
    """Each command in this process (main(argv), as the console script calls it), but README's `train`, which
    trains in a process of its own."""
    from inception_keras.cli.app import main

    d, data = workdir
    r = cli("train", "--data-dir", data, "--limit", "64", "--set", "epochs=1", "--runs-root", "runs", cwd=str(d))
    assert r.returncode == 0, r.stderr[-2000:]
    monkeypatch.chdir(d)
    ran, skipped, failed = 0, [], []
    for path, command, after in documented_commands():
        why = reason(command)
        if why or "bad.yaml" in command:
            skipped.append((path, command, why or "test_readme_error_example_prints_what_the_readme_shows"))
            continue
        argv, how = _plan(argv_of(command), data, d)
        capsys.readouterr()
        code = main(argv) or 0
        err = capsys.readouterr().err
        ran += 1
        want = 2 if after.startswith("error:") else 0
        if code != want or (want == 2 and after.strip() not in err):
            failed.append(f"{path}: {command}\n  ran: inception-keras {shlex.join(argv)} ({how or 'as written'})\n"
                          f"  exit {code} (expected {want}): {err.strip()[-600:]}")
    print(f"{ran} documented commands ran; {len(skipped)} listed as not runnable here")
    assert not failed, "\n".join(failed)

"""Image folders for fine-tuning: a class subset (dataset.classes) and a --limit that keeps every class, in
proportion, drawn with dataset.seed, for training and validation (issue 31, item 7). Real PNG and JPEG files;
no TensorFlow (the files are listed and checked, not decoded)."""
from __future__ import annotations

import os
import re
from collections import Counter

import pytest
from conftest import ROOT, TINY_ARCH, cli, make_image_folder, write_bars

from inception_keras.data.sources import open_source
from inception_keras.errors import ConfigError
from inception_keras.lang.recipe import load_recipe

SIZES = {"circle": 40, "square": 16, "stripe": 8}  # uneven on purpose: 64 images


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One tree of class folders, 40 / 16 / 8 images (a quarter of each held out for validation)."""
    root = tmp_path_factory.mktemp("folders") / "shapes"
    for seed, (name, n) in enumerate(SIZES.items()):
        make_image_folder(root, per_class=n, classes=(name,), seed=seed)
    return str(root)


def recipe(tmp_path, path, dataset: str = "", sets=None):
    text = (f"name: t\ndataset:\n  name: shapes\n  kind: image_folder\n  path: {path}\n"
            f"  validation_fraction: 0.25\n{dataset}epochs: 1\nbatch_size: 4\n"
            "optimizer: {name: sgd, learning_rate: 0.1}\n")
    file = tmp_path / "recipe.yaml"
    file.write_text(text)
    return str(file), load_recipe(str(file), sets=sets)


def counts(split) -> dict:
    return dict(sorted(Counter(label for _, label in split.files).items()))


def names(split) -> list:
    return [os.path.basename(f) for f, _ in split.files]


def folder_of(path: str) -> str:
    return os.path.basename(os.path.dirname(path))


def test_limit_keeps_every_class_in_proportion_for_training_and_validation(folder, tmp_path):
    _, whole = recipe(tmp_path, folder)
    full = open_source(whole.dataset, 3)
    assert counts(full.train) == {0: 30, 1: 12, 2: 6} and counts(full.val) == {0: 10, 1: 4, 2: 2}
    _, limited = recipe(tmp_path, folder, "  limit: 12\n")
    source = open_source(limited.dataset, 3)
    # 12 of 48 training images: 30/48, 12/48, 6/48 of 12 = 7.5, 3, 1.5 -> 8, 3, 1 (largest remainders, ties to
    # the first class); 12 of 16 validation images: 7.5, 3, 1.5 -> 8, 3, 1
    assert counts(source.train) == {0: 8, 1: 3, 2: 1}
    assert counts(source.val) == {0: 8, 1: 3, 2: 1}
    assert source.train.count == source.val.count == 12
    for split, every in ((source.train, full.train), (source.val, full.val)):
        assert set(split.files) <= set(every.files)  # a sample of the split, never crossing train and val
    # the training list takes the classes in turn (a shuffle buffer sees every class from the start)
    assert [label for _, label in source.train.files][:3] == [0, 1, 2]
    # a limit below the class count still gives each class one image: 4 of 48 -> 2.5, 1, 0.5 -> 2, 1, 1
    _, small = recipe(tmp_path, folder, "  limit: 4\n")
    assert counts(open_source(small.dataset, 3).train) == {0: 2, 1: 1, 2: 1}


def test_the_limited_sample_is_drawn_by_the_seed(folder, tmp_path):
    draws = {}
    for seed in (0, 0, 7):
        _, r = recipe(tmp_path, folder, f"  limit: 12\n  seed: {seed}\n")
        source = open_source(r.dataset, 3)
        draws.setdefault(seed, []).append((names(source.train), names(source.val)))
    assert draws[0][0] == draws[0][1]  # the same seed, the same images
    assert draws[0][0][0] != draws[7][0][0] and draws[0][0][1] != draws[7][0][1]  # another seed, others
    shares = {seed: [Counter(n.rstrip("0123456789.jpgn") for n in split) for split in draws[seed][0]]
              for seed in (0, 7)}
    assert shares[0] == shares[7] == [{"circle": 8, "square": 3, "stripe": 1}] * 2  # the same shares
    # the seed also draws the held-out validation images (without a limit)
    _, a = recipe(tmp_path, folder, "  seed: 1\n")
    _, b = recipe(tmp_path, folder, "  seed: 2\n")
    assert names(open_source(a.dataset, 3).val) != names(open_source(b.dataset, 3).val)


def test_a_class_subset_is_labelled_in_its_order(folder, tmp_path):
    _, r = recipe(tmp_path, folder, "  classes: [stripe, circle]\n  limit: 10\n")
    source = open_source(r.dataset, 2)
    assert source.class_names == ["stripe", "circle"]
    for split in (source.train, source.val):
        assert {(label, folder_of(f)) for f, label in split.files} == {(0, "stripe"), (1, "circle")}
    # 10 of the 36 training images of the two classes: 6/36 and 30/36 of 10 -> 2, 8
    assert counts(source.train) == {0: 2, 1: 8}
    # train/ and val/ subtrees take the subset too
    split_root = make_image_folder(tmp_path / "split", per_class=8, split_dirs=True)
    _, s = recipe(tmp_path, split_root, "  classes: [square]\n")
    sub = open_source(s.dataset, 1)
    assert sub.class_names == ["square"] and counts(sub.train) == {0: 8} and counts(sub.val) == {0: 2}


def test_an_unknown_class_is_named_at_the_recipe_line_with_the_classes_found(folder, tmp_path):
    file, r = recipe(tmp_path, folder, "  classes: [stripe, cat]\n")
    with pytest.raises(ConfigError) as e:
        open_source(r.dataset, 3)
    assert str(e.value) == (f"{file}:7:12: dataset.classes: no class folder 'cat' in {folder} (classes found: "
                            f"circle, square, stripe)")
    file, r = recipe(tmp_path, folder, sets=[("dataset.classes", ["dog"])])
    with pytest.raises(ConfigError, match=r"no class folder 'dog' .*\(from --set dataset.classes=\[dog\]\)"):
        open_source(r.dataset, 3)
    data = write_bars(str(tmp_path / "bars"), n_train=20, n_test=10)
    file, r = recipe(tmp_path, data, "  classes: [a]\n", sets=[("dataset.kind", "idx")])
    with pytest.raises(ConfigError, match=rf"^{file}:7:12: dataset.classes: a class subset is for image folders; "
                                          r"this dataset is idx"):
        open_source(r.dataset, 10)


@pytest.mark.parametrize("classes,where,message", [
    ("[]", "7:12: dataset.classes", "got an empty list"),
    ("[cat, cat]", "7:18: dataset.classes[1]", "'cat' is listed twice"),
    ("[../cat]", "7:13: dataset.classes[0]", "expected the name of a class folder (no path, not hidden)"),
    ("[.hidden]", "7:13: dataset.classes[0]", "not hidden"),
    ("[3]", "7:13: dataset.classes[0]", "got 3"),
    ("cat", "7:12: dataset.classes", "expected a list"),
])
def test_the_class_list_is_checked_when_the_recipe_is_read(tmp_path, classes, where, message):
    with pytest.raises(ConfigError) as e:
        recipe(tmp_path, "/nowhere", f"  classes: {classes}\n")
    assert f"recipe.yaml:{where}: " in str(e.value) and message in str(e.value)


def test_a_limit_below_the_class_count_is_refused(folder, tmp_path):
    _, r = recipe(tmp_path, folder, "  limit: 2\n")
    with pytest.raises(ConfigError, match="--limit 2 cannot keep every one of its 3 classes"):
        open_source(r.dataset, 3)


def doc_blocks() -> tuple[str, str]:
    """docs/finetune.md's pets recipe and the error line it shows."""
    text = open(os.path.join(ROOT, "docs", "finetune.md"), encoding="utf-8").read()
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    at = next(i for i, b in enumerate(blocks) if b.startswith("name: pets\n"))
    return blocks[at], blocks[at + 1].strip()


@pytest.mark.e2e
def test_the_documented_unknown_class_error_is_what_train_prints(tmp_path):
    recipe_text, error = doc_blocks()
    pets = tmp_path / "pets"
    for seed, name in enumerate(("bird", "cat", "dog")):
        make_image_folder(pets, per_class=2, classes=(name,), seed=seed)
    (tmp_path / "pets.yaml").write_text(recipe_text.replace("/data/pets", str(pets)))
    (tmp_path / "tiny.yaml").write_text(TINY_ARCH)
    r = cli("train", "--arch", "tiny.yaml", "--recipe", "pets.yaml", "--run-dir", "run", cwd=str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == error.replace("/data/pets", str(pets))
    assert not (tmp_path / "run").exists()

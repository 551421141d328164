"""Weight presets (inception_keras.zoo.presets, zoo.cache): the publishers' URLs and hashes, and the whole trip
preset -> download (keras.utils.get_file from a local HTTP server on 127.0.0.1) -> hash check -> conversion
(weights/) -> cache -> model, with a keras.applications InceptionV3 file written by Keras' own code (seeded
weights, legacy h5 as the publisher's file), at 75 px so that it stays fast.

The real presets carry the publishers' hashes, which a seeded file cannot have: the positive trip through
INCEPTION_KERAS_MIRROR uses a preset the test registers (PRESETS is a plain dict) with the served file's own MD5,
and the real preset's hash is shown to refuse the same file (in process, and from the CLI: exit 2, nothing cached).
"""
from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import re
import socket
import threading
import time

import pytest
from conftest import ROOT, cli

from inception_keras.errors import ConfigError
from inception_keras.zoo import cache
from inception_keras.zoo.cache import resolve_weights
from inception_keras.zoo.presets import PRESETS, Preset, find_preset, presets_for

V3_PATH = "/tensorflow/keras-applications/inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
SIZE = 75


# ----------------------------------------------------------------------------- the table (no TensorFlow)


def test_every_network_with_presets_has_an_arch_file_and_a_default():
    for network, presets in PRESETS.items():
        assert os.path.isfile(os.path.join(ROOT, "arch", f"{network}.yaml")), network
        assert find_preset(network, "imagenet") in presets
        assert len({p.name for p in presets}) == len(presets), network


def test_hashes_are_as_their_publishers_state_them():
    """keras.applications: MD5 digests (get_file's 32-digit form); torchvision and timm's GitHub file: the hex
    digits after the last '-' of the file name (torch.hub's HASH_REGEX); timm's Hub files: none, said in a note."""
    for presets in PRESETS.values():
        for p in presets:
            assert p.url.startswith("https://")
            if p.publisher == "keras.applications":
                assert p.hash_kind == "md5" and re.fullmatch(r"[0-9a-f]{32}", p.hash)
            elif p.hash_kind == "sha256-prefix":
                assert re.search(r"-([a-f0-9]*)\.", p.file).group(1) == p.hash
            else:
                assert p.hash is None and p.hash_kind is None and "no hash" in p.note
                assert p.url == f"https://huggingface.co/timm/{p.name}/resolve/main/model.safetensors"
            assert p.importer in ("keras", "torchvision", "timm") or "no architecture file" in p.note


def test_docs_list_every_preset():
    """docs/weights.md's table names every preset and every hash the publishers give."""
    text = open(os.path.join(ROOT, "docs", "weights.md"), encoding="utf-8").read()
    for network, presets in PRESETS.items():
        assert network in text
        for p in presets:
            assert p.name.split(".")[-1] in text and (p.hash is None or p.hash in text), (network, p.name)


def test_presets_by_file_name_and_mirror(monkeypatch):
    assert presets_for("/some/where/inception_v3_imagenet.yaml") == PRESETS["inception_v3_imagenet"]
    assert presets_for("googlenet") == ()
    monkeypatch.setenv(cache.MIRROR_ENV, "http://127.0.0.1:8000/m/")
    assert cache.mirrored("https://storage.googleapis.com" + V3_PATH) == "http://127.0.0.1:8000/m" + V3_PATH
    monkeypatch.setenv(cache.CACHE_ENV, "/tmp/x-cache")
    assert cache.cache_root() == "/tmp/x-cache"
    monkeypatch.delenv(cache.CACHE_ENV)
    monkeypatch.setenv("KERAS_HOME", "/tmp/kh")
    assert cache.cache_root() == os.path.join("/tmp/kh", "inception_keras")


def test_unknown_preset_and_network_say_what_exists():
    with pytest.raises(ConfigError, match="presets: imagenet, imagenet_notop"):
        resolve_weights("inception_v3", "imagenet21k")
    with pytest.raises(ConfigError, match="no architecture file or name 'inception_v9'.*inception_v3"):
        resolve_weights("inception_v9", "imagenet")
    with pytest.raises(ConfigError, match="no architecture file of ours fits"):
        resolve_weights("inception_resnet_v2", "inception_resnet_v2.tf_in1k")


# ----------------------------------------------------------------------------- a local server


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Files under the server's folder; a path ending in `truncated.h5` announces its whole length but sends half."""

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path.endswith("truncated.h5"):
            body = os.urandom(4096)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:2048])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder):
    """An HTTP server on 127.0.0.1 (a free port) serving `folder`, stopped on exit; yields its base URL."""
    handler = lambda *a, **k: _Handler(*a, directory=str(folder), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def files_under(folder) -> list:
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs)


def md5(path) -> str:
    return hashlib.md5(open(path, "rb").read()).hexdigest()


@pytest.mark.e2e  # keras.utils.get_file imports Keras
def test_truncated_and_unreachable_downloads_leave_nothing(tmp_path, monkeypatch):
    """A transfer cut short and a server that is not there: ConfigError naming the preset, the URL, the expected
    hash and where the file may be placed by hand; the cache holds no file."""
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    preset = Preset("cut", "keras.applications", "https://example.org/w/truncated.h5", "0" * 32, "md5", "keras")
    with serve(tmp_path) as base:
        monkeypatch.setenv(cache.MIRROR_ENV, base)
        with pytest.raises(ConfigError) as e:
            cache.download(preset, "inception_v3")
    text = str(e.value)
    assert "weights 'cut'" in text and f"{base}/w/truncated.h5" in text and "expected md5 " + "0" * 32 in text
    assert "download failed" in text and "place it at " + str(tmp_path / "cache") in text
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(cache.MIRROR_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(ConfigError, match="download failed"):
        cache.download(preset, "inception_v3")
    assert files_under(tmp_path / "cache") == []


# ----------------------------------------------------------------------------- the whole trip (TensorFlow)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """keras.applications.InceptionV3 at 75 px with seeded weights, saved by Keras' legacy h5 writer at the
    publisher's path; an architecture file named as ours (inception_v3_imagenet.yaml) at 75 px."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format
    from test_keras_apps import randomize

    root = tmp_path_factory.mktemp("served")
    ref = keras.applications.InceptionV3(weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    randomize(ref, 7)
    os.makedirs(os.path.dirname(str(root) + V3_PATH))
    with h5py.File(str(root) + V3_PATH, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, ref)
    arch = tmp_path_factory.mktemp("arch") / "inception_v3_imagenet.yaml"
    base = os.path.join(ROOT, "arch", "inception_v3_imagenet.yaml")
    arch.write_text(f"extends: {base}\ninput: [{SIZE}, {SIZE}, 3]\n")
    return root, str(arch), ref


def outputs_equal_keras(arch, weights_file, ref):
    """Our network with the converted weights gives keras.applications' logits (preprocess_input's images)."""
    import keras
    import numpy as np

    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_model

    model = build_model(load_arch(arch))
    model.load_weights(weights_file)
    u8 = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    want = np.asarray(ref(keras.applications.inception_v3.preprocess_input(u8.copy())))
    got = np.asarray(model(u8 / 255.0))
    assert np.abs(want).max() > 1e-3 and np.abs(want - got).max() <= 1e-4 * np.abs(want).max()


def _no_conversion(*args, **kwargs):
    raise AssertionError("converted again: the cache was not used")


@pytest.mark.e2e
@pytest.mark.golden
def test_weights_url_then_cached_offline(served, tmp_path, monkeypatch):
    root, arch, ref = served
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    with serve(root) as base:
        start = time.perf_counter()
        path = resolve_weights(arch, base + V3_PATH)
        first = time.perf_counter() - start
    outputs_equal_keras(arch, path, ref)
    monkeypatch.setattr(cache, "convert", _no_conversion)
    start = time.perf_counter()
    assert resolve_weights(arch, base + V3_PATH) == path  # the server is stopped: no network
    print(f"InceptionV3 {SIZE}px weights=URL: first (download + convert) {first:.2f} s, "
          f"second (cached) {time.perf_counter() - start:.3f} s")


@pytest.mark.e2e
@pytest.mark.golden
def test_preset_through_mirror(served, tmp_path, monkeypatch):
    """The publisher's preset refuses the seeded file (its MD5 is not Keras'), leaving nothing; a preset with the
    served file's MD5 downloads, converts and caches it; the second call is offline and converts nothing."""
    root, arch, ref = served
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    real = find_preset(arch, "imagenet")
    seeded = Preset("seeded", real.publisher, real.url, md5(str(root) + V3_PATH), "md5", "keras")
    monkeypatch.setitem(PRESETS, arch, (seeded,))
    with serve(root) as base:
        monkeypatch.setenv(cache.MIRROR_ENV, base)
        with pytest.raises(ConfigError) as e:
            cache.download(real, arch)
        assert f"expected md5 {real.hash}" in str(e.value) and md5(str(root) + V3_PATH) in str(e.value)
        assert files_under(tmp_path / "cache") == []
        start = time.perf_counter()
        path = resolve_weights(arch, "seeded")
        first = time.perf_counter() - start
    outputs_equal_keras(arch, path, ref)
    monkeypatch.setattr(cache, "convert", _no_conversion)
    start = time.perf_counter()
    assert resolve_weights(arch, "seeded") == path
    print(f"InceptionV3 {SIZE}px preset via mirror: first (download + convert) {first:.2f} s, "
          f"second (cached) {time.perf_counter() - start:.3f} s")


@pytest.mark.e2e
def test_cli_wrong_file_behind_mirror_exit_2(served, tmp_path):
    root, arch, _ = served
    out = tmp_path / "v3.keras"
    with serve(root) as base:
        r = cli("import-weights", "keras", "--weights", "imagenet", "--arch", arch, "--out", out,
                env={cache.MIRROR_ENV: base, cache.CACHE_ENV: str(tmp_path / "cache")})
    assert r.returncode == 2, r.stderr
    err = r.stderr.strip().splitlines()
    assert err[-1].startswith("error: weights 'imagenet' of ") and "Traceback" not in r.stderr
    assert "expected md5 9a0d58056eeedaa3f26cb7ebd46da564" in err[-1] and md5(str(root) + V3_PATH) in err[-1]
    assert base + V3_PATH in err[-1] and "place it at " in err[-1]
    assert not out.exists() and files_under(tmp_path / "cache") == []


@pytest.mark.e2e
@pytest.mark.golden
def test_cli_weights_url_predict_then_import_offline(served, tmp_path):
    """`predict NETWORK IMAGE --weights URL` downloads and converts once; `import-weights keras --weights URL`
    then writes the model from the cache with the server stopped, and it gives keras.applications' logits."""
    import keras
    import numpy as np
    from PIL import Image

    root, arch, ref = served
    env = {cache.CACHE_ENV: str(tmp_path / "cache")}
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (90, 80, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    with serve(root) as base:
        r = cli("predict", arch, tmp_path / "a.png", "--weights", base + V3_PATH, "--top", "2", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "a.png (90x80x3 -> 75x75x3)" in r.stdout
    out = tmp_path / "v3.keras"
    r = cli("import-weights", "keras", "--weights", base + V3_PATH, "--arch", arch, "--out", out, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    model = keras.models.load_model(str(out), compile=False)
    u8 = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    want = np.asarray(ref(keras.applications.inception_v3.preprocess_input(u8.copy())))
    assert np.abs(want - np.asarray(model(u8 / 255.0))).max() <= 1e-4 * np.abs(want).max()
    r = cli("train", "--weights", "imagenet", "--init-from", out, env=env)
    assert r.returncode == 2 and "give one" in r.stderr


@pytest.mark.e2e
@pytest.mark.golden
def test_torchvision_preset_pth_through_mirror(tmp_path, monkeypatch):
    """torchvision's GoogLeNet preset: a state dict saved with torch.save (torchvision's format; the seeded weights
    torchvision's own model was given for tests/fixtures/torchvision_googlenet_224.npz) served at the publisher's
    path. The publisher's SHA-256 prefix (1378be20) refuses it; a preset with the file's own prefix converts it
    (weights/torchvision.py), and the model gives torchvision's recorded activations and logits."""
    pytest.importorskip("torch")
    from test_golden import check_torchvision, tv_ref, tv_state
    from test_import_weights import write_state

    real = find_preset("googlenet_bn", "IMAGENET1K_V1")
    served = tmp_path / "served"
    os.makedirs(served / "models")
    pth = write_state(tv_state(tv_ref(224)), str(served / "models" / real.file))
    prefix = hashlib.sha256(open(pth, "rb").read()).hexdigest()[:8]
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setitem(PRESETS, "googlenet_bn",
                        (Preset("seeded", "torchvision", real.url, prefix, "sha256-prefix", "torchvision"),))
    with serve(served) as base:
        monkeypatch.setenv(cache.MIRROR_ENV, base)
        with pytest.raises(ConfigError, match=f"is {prefix}; expected sha256-prefix 1378be20"):
            cache.download(real, "googlenet_bn")
        assert files_under(tmp_path / "cache") == []
        path = resolve_weights("googlenet_bn", "seeded")
    monkeypatch.setattr(cache, "convert", _no_conversion)
    assert resolve_weights("googlenet_bn", "seeded") == path
    check_torchvision(tv_ref(224), cache.build_with_weights("googlenet_bn", "seeded").inference)

"""The weight cache: a preset's (or URL's, or local) upstream file downloaded once with keras.utils.get_file,
checked against the publisher's hash, converted by the importers of weights/ (every tensor accounted for) into a
Keras `.weights.h5` of the network's full model, and kept, so that the second call reads one file and touches no
network.

    $INCEPTION_KERAS_CACHE (default: $KERAS_HOME/inception_keras, else ~/.keras/inception_keras)
      downloads/<publisher>/<file>             the upstream files (where a file may be placed by hand)
      converted/<network>/<what>-<fp>.weights.h5   the converted weights; <fp>: the network's layer table

Nothing partial stays: a download goes to a `.part` name and is renamed when its hash checks out (a mismatch,
a truncated transfer or no network removes it); a conversion is written in a temporary folder and renamed.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.parse

from inception_keras.errors import ConfigError
from inception_keras.lang import catalog
from inception_keras.zoo.presets import Preset, find_preset, presets_for

CACHE_ENV = "INCEPTION_KERAS_CACHE"
MIRROR_ENV = "INCEPTION_KERAS_MIRROR"


def cache_root() -> str:
    """Where the cache lives: $INCEPTION_KERAS_CACHE, else <$KERAS_HOME or ~/.keras>/inception_keras."""
    if os.environ.get(CACHE_ENV):
        return os.path.abspath(os.path.expanduser(os.environ[CACHE_ENV]))
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "inception_keras")


def mirrored(url: str) -> str:
    """`url` with its scheme and host replaced by $INCEPTION_KERAS_MIRROR (its path kept); `url` without it."""
    base = os.environ.get(MIRROR_ENV)
    if not base:
        return url
    parts = urllib.parse.urlsplit(url)
    return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def _arch_file(network: str) -> str:
    """The architecture file of `network`: a path as given, else the shipped file of that name (lang.catalog)."""
    return catalog.resolve(network, catalog.ARCH)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _found_hash(path: str, preset: Preset) -> str:
    """The file's hash as the preset's publisher states it (MD5, or the SHA-256's first digits)."""
    if preset.hash_kind == "md5":
        h = hashlib.md5()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    return _sha256(path)[: len(preset.hash or "")]


def _refuse(preset: Preset, url: str, target: str, found: str, network: str) -> ConfigError:
    expected = f"{preset.hash_kind} {preset.hash}" if preset.hash else "no hash (the publisher gives none)"
    return ConfigError(f"weights '{preset.name}' of {network} from {url}: {found}; expected {expected}. Nothing was "
                       f"kept in the cache. Check the URL (and ${MIRROR_ENV}), or download the file yourself and "
                       f"place it at {target} (it is checked against the same hash), or pass weights=FILE")


def download(preset: Preset, network: str) -> str:
    """The checked upstream file of `preset` (downloaded now unless a checked copy is in the cache)."""
    import keras

    url = mirrored(preset.url)
    folder = os.path.join(cache_root(), "downloads", preset.publisher)
    target = os.path.join(folder, preset.file)
    if os.path.isfile(target):
        if not preset.hash or _found_hash(target, preset) == preset.hash:
            return target
        os.remove(target)  # a damaged or outdated copy: fetched again, as get_file does
    os.makedirs(folder, exist_ok=True)
    part = f"{preset.file}.part{os.getpid()}"
    whole = preset.hash if preset.hash_kind == "md5" else None  # get_file checks whole digests; a prefix is ours
    try:
        try:
            path = keras.utils.get_file(part, url, cache_dir=folder, cache_subdir=folder, file_hash=whole)
        except ValueError:  # get_file's hash mismatch: it leaves the file; we say what it holds and drop it
            raise _refuse(preset, url, target, f"the file's {preset.hash_kind} is "
                          f"{_found_hash(os.path.join(folder, part), preset)}", network) from None
        except Exception as e:  # noqa: BLE001 - get_file turns HTTP and URL errors into Exception
            raise _refuse(preset, url, target, f"download failed ({str(e).strip()[:300]})", network) from None
        if preset.hash and _found_hash(path, preset) != preset.hash:
            raise _refuse(preset, url, target, f"the file's {preset.hash_kind} is {_found_hash(path, preset)}",
                          network)
        os.replace(path, target)
    finally:
        if os.path.exists(os.path.join(folder, part)):
            os.remove(os.path.join(folder, part))
    return target


def _download_url(url: str) -> str:
    """An http(s) URL given as weights=: downloaded once (no hash to check: the conversion checks every tensor)."""
    preset = Preset(os.path.basename(urllib.parse.urlsplit(url).path) or "weights", "url", url, None, None, None)
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    folder = os.path.join(cache_root(), "downloads", "url", key)
    target = os.path.join(folder, preset.file)
    if os.path.isfile(target):
        return target
    os.makedirs(folder, exist_ok=True)
    import keras

    part = f"{preset.file}.part{os.getpid()}"
    try:
        path = keras.utils.get_file(part, url, cache_dir=folder, cache_subdir=folder)
        os.replace(path, target)
    except Exception as e:  # noqa: BLE001 - get_file turns HTTP and URL errors into Exception
        raise ConfigError(f"weights {url}: download failed ({str(e).strip()[:300]}); nothing was kept in the cache; "
                          f"download the file yourself and pass weights=FILE") from None
    finally:
        if os.path.exists(os.path.join(folder, part)):
            os.remove(os.path.join(folder, part))
    return target


def _importer_for_file(network: str, path: str) -> str:
    """Which importer reads a file given by path or URL: .h5 keras.applications'; a state dict the network's
    presets' importer (torchvision's name mapping for GoogLeNet, else timm's structural one)."""
    if path.endswith(".h5"):
        return "keras"
    if path.endswith((".tar.gz", ".tgz", ".tar")):  # TF-Slim's published checkpoints
        return "slim"
    kinds = [p.importer for p in presets_for(network) if p.importer in ("torchvision", "timm")]
    return kinds[0] if kinds else "timm"


def fingerprint(arch: str, sets: tuple) -> str:
    """What the converted file depends on, without TensorFlow: the network's layer table (kinds, shapes,
    parameters of every layer and aux head, as `summary --blocks` prints it)."""
    from inception_keras.lang.parse import load_arch
    from inception_keras.lang.summary import render

    spec = load_arch(arch, sets=list(sets) or None)
    text = render(spec, blocks=True) + repr([(h.name, h.after) for h in spec.aux_heads])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def convert(importer: str, source: str, arch: str, sets: tuple, target: str) -> None:
    """Convert `source` onto `arch` with the importer and write `target` (.weights.h5) whole, or nothing."""
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".convert-", dir=folder)
    try:
        out = os.path.join(tmp, os.path.basename(target))
        if importer == "keras":
            from inception_keras.weights.keras_apps import import_keras

            import_keras(source, arch, out, sets=list(sets))
        elif importer == "slim":  # a tarball: extracted safely beside the conversion, removed with it
            from inception_keras.weights.slim import extract_checkpoint, import_slim

            import_slim(extract_checkpoint(source, os.path.join(tmp, "checkpoint")), arch, out, sets=list(sets))
        elif importer == "torchvision":
            from inception_keras.weights.torchvision import import_torchvision

            import_torchvision(source, arch, out, sets=list(sets))
        else:
            from inception_keras.weights.structural import import_structural

            import_structural(source, arch, out, sets=list(sets))
        os.replace(out, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def resolve_weights(network: str, weights: str) -> str:
    """The path of a Keras `.weights.h5` of `network`'s full model (its architecture file with its top, at its
    default input) holding `weights`: "imagenet", a preset's name, a local upstream file or an http(s) URL.
    Downloaded once, checked against the publisher's hash, converted with weights/, cached; a second call reads
    the cache only. ConfigError (exit 2) names what went wrong and what to do."""
    arch = _arch_file(network)
    name = os.path.basename(arch)[: -len(".yaml")]
    preset = find_preset(network, weights)
    is_url = str(weights).startswith(("http://", "https://"))
    if preset is None and not is_url and not os.path.isfile(weights):
        names = [p.name for p in presets_for(network)]
        raise ConfigError(f"weights '{weights}': no preset of {network} has this name, and no such file "
                          f"(presets: {', '.join(names) or 'none'}; or a local file or an http(s) URL)")
    if preset is not None and preset.importer is None:
        raise ConfigError(f"weights '{preset.name}' ({preset.url}): {preset.note}")
    if preset is not None:
        what, importer, sets = preset.name, preset.importer, preset.sets
    elif is_url:
        what, importer, sets = "url-" + hashlib.sha256(weights.encode()).hexdigest()[:12], \
            _importer_for_file(network, urllib.parse.urlsplit(weights).path), ()
    else:
        what, importer, sets = "file-" + _sha256(weights)[:16], _importer_for_file(network, weights), ()
    target = os.path.join(cache_root(), "converted", name, f"{what}-{fingerprint(arch, sets)}.weights.h5")
    if os.path.isfile(target):
        return target
    source = download(preset, network) if preset else _download_url(weights) if is_url else os.path.abspath(weights)
    try:
        convert(importer, source, arch, sets, target)
    except ConfigError as e:
        raise ConfigError(f"weights '{weights}' ({source}) do not convert onto {network} ({importer} importer): "
                          f"{e}") from None
    return target


def build_with_weights(network: str, weights: str, sets=None):
    """`network` built from its architecture file (with `sets`) holding `weights` (resolve_weights's file):
    the builder's Models (train: aux heads included; inference)."""
    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_models

    path = resolve_weights(network, weights)
    models = build_models(load_arch(_arch_file(network), sets=list(sets or []) or None))
    try:
        models.train.load_weights(path)
    except (ValueError, KeyError, OSError) as e:
        raise ConfigError(f"weights '{weights}' ({path}) do not fit {network} as built here "
                          f"({str(e).splitlines()[0][:300]})") from None
    return models


def model_file(network: str, weights: str) -> str:
    """A `.keras` file of `network`'s inference model holding `weights` (what predict, evaluate and export take),
    cached beside the converted weights."""
    from inception_keras.weights.imported import write_model

    target = resolve_weights(network, weights)[: -len(".weights.h5")] + ".keras"
    if not os.path.isfile(target):
        models = build_with_weights(network, weights)
        write_model(target, models.inference)
    return target

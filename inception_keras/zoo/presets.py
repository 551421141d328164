"""Each network's pretrained weights as its publishers publish them: the upstream URL and the hash the publisher
gives, COPIED from the publisher's own source (never computed here), which of our architecture files the file fits
and which importer (weights/) converts it. `resolve_weights(network, weights)` gives a converted Keras
`.weights.h5` (zoo.cache: downloaded once with keras.utils.get_file, checked, converted, kept).

Where the URLs and hashes come from:
- keras.applications (keras 3.15.1, keras/src/applications/inception_v3.py, inception_resnet_v2.py,
  xception.py): WEIGHTS_PATH / WEIGHTS_PATH_NO_TOP (BASE_WEIGHT_URL + fname) and the `file_hash` passed to
  get_file: MD5 (32 hex digits), checked whole by get_file.
- torchvision (torchvision/models/googlenet.py, inception.py): `GoogLeNet_Weights.IMAGENET1K_V1.url`,
  `Inception_V3_Weights.IMAGENET1K_V1.url`. torchvision publishes no other hash: torch.hub's check_hash takes
  the hex digits after the last '-' of the file name as a prefix of the file's SHA-256 (HASH_REGEX).
- timm (pytorch-image-models, timm/models/inception_v3.py, inception_v4.py, inception_resnet_v2.py, xception.py,
  `default_cfgs`): `hf_hub_id='timm/'` completed with `<model>.<tag>` (timm/models/_registry.py), file
  model.safetensors (timm/models/_hub.py HF_SAFE_WEIGHTS_NAME), fetched here from the Hub's resolve URL.
  timm's source gives no hash for these files (the Hub checks its own LFS SHA-256, which timm's source does not
  carry): hash None, the file is taken unchecked and its conversion (every tensor accounted for) is the check.
  legacy_xception.tf_in1k has no hf_hub_id in timm's source, only a GitHub release URL whose name carries a
  torch.hub hash prefix (timm verifies it only with set_pretrained_check_hash).

`weights=` takes "imagenet" (the network's first convertible preset), a preset's name, a local file or an
http(s) URL. INCEPTION_KERAS_MIRROR replaces the scheme and host of every preset URL (path kept);
INCEPTION_KERAS_CACHE moves the cache (zoo.cache).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from inception_keras.errors import ConfigError

KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
HF = "https://huggingface.co/timm/{}/resolve/main/model.safetensors"
INCEPTION_MEAN = (0.5, 0.5, 0.5)  # timm's IMAGENET_INCEPTION_MEAN / _STD
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # IMAGENET_DEFAULT_MEAN / _STD


@dataclass(frozen=True)
class Preset:
    """One publisher's weight file for one of our networks."""

    name: str                # what weights= takes: imagenet, imagenet_notop, IMAGENET1K_V1, inception_v3.tv_in1k
    publisher: str           # keras.applications, torchvision, timm
    url: str                 # the publisher's URL for the file
    hash: str | None         # the publisher's hash, as given (None: the publisher's source gives none)
    hash_kind: str | None    # md5 (whole digest), sha256-prefix (torch.hub's file-name prefix), None
    importer: str | None     # keras (weights.keras_apps), torchvision, timm (weights.structural); None: no arch fits
    top: bool = True         # the file holds the classifier
    sets: tuple = ()         # architecture overrides the file needs, e.g. (("aux_heads", None),)
    mean: tuple = INCEPTION_MEAN  # the normalisation the publisher's pretrained config gives ([0, 1] images)
    std: tuple = INCEPTION_MEAN
    note: str = ""

    @property
    def file(self) -> str:
        """The name the download is kept under: the URL's last part (timm's: <model>.<tag>.safetensors)."""
        base = self.url.rstrip("/").rsplit("/", 1)[-1]
        return f"{self.name}.safetensors" if base == "model.safetensors" else base


def _keras(folder: str, stem: str, md5_top: str, md5_notop: str) -> tuple[Preset, Preset]:
    url = f"{KERAS_BASE}{folder}/{stem}_weights_tf_dim_ordering_tf_kernels"
    return (Preset("imagenet", "keras.applications", url + ".h5", md5_top, "md5", "keras"),
            Preset("imagenet_notop", "keras.applications", url + "_notop.h5", md5_notop, "md5", "keras", top=False,
                   note="no classifier: the last Dense layer keeps its initial values"))


def _timm(name: str, importer: str | None = "timm", sets: tuple = (), mean=INCEPTION_MEAN, std=INCEPTION_MEAN,
          note: str = "") -> Preset:
    return Preset(name, "timm", HF.format(name), None, None, importer, sets=sets, mean=mean, std=std,
                  note="; ".join(n for n in ("timm's source gives no hash for this file", note) if n))


_V3_KERAS = _keras("inception_v3", "inception_v3", "9a0d58056eeedaa3f26cb7ebd46da564",
                   "bcbd6486424b2319ff4ef7d526e38f63")
_IRV2_KERAS = _keras("inception_resnet_v2", "inception_resnet_v2", "e693bd0210a403b3192acc6073ad2e96",
                     "d19885ff4a710c122648d3b5c3b684e4")
_XCEPTION_KERAS = _keras("xception", "xception", "0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97")
_NO_AUX = (("aux_heads", None),)  # timm: "only torchvision pretrained weights have aux logits"
_IRV2_TIMM = "no architecture file of ours fits: timm's InceptionResnetV2 has BatchNorm with scale, Keras' has none"
_GOOGLENET_TV = Preset("IMAGENET1K_V1", "torchvision", "https://download.pytorch.org/models/googlenet-1378be20.pth",
                       "1378be20", "sha256-prefix", "torchvision", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                       note="torchvision's transform_input=True: arch/googlenet_bn_imagenet.yaml declares the input "
                            "it expects")
_V3_TV = (Preset("IMAGENET1K_V1", "torchvision", "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
                 "0cc3c7bd", "sha256-prefix", "timm", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                 note="torchvision's pretrained model also sets transform_input=True"),
          _timm("inception_v3.tv_in1k", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                note="timm's older URL for it, https://download.pytorch.org/models/inception_v3_google-1a9a5a14.pth, "
                     "carries the torch.hub prefix 1a9a5a14"),
          _timm("inception_v3.tf_in1k", sets=_NO_AUX),
          _timm("inception_v3.tf_adv_in1k", sets=_NO_AUX),
          _timm("inception_v3.gluon_in1k", sets=_NO_AUX, mean=IMAGENET_MEAN, std=IMAGENET_STD))
_XCEPTION_TIMM = Preset("legacy_xception.tf_in1k", "timm",
                        "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-cadene/"
                        "xception-43020ad28.pth", "43020ad28", "sha256-prefix", "timm",
                        note="timm's legacy_xception (a port of Keras' Xception); its mapping onto xception.yaml is "
                             "not proven by a test")

# network (our arch file's name) -> its presets, the default ("imagenet") first
PRESETS: dict[str, tuple[Preset, ...]] = {
    "inception_v3": _V3_KERAS,
    "inception_v3_imagenet": _V3_KERAS,
    "inception_v3_torchvision": _V3_TV,
    "inception_resnet_v2": _IRV2_KERAS + (_timm("inception_resnet_v2.tf_in1k", None, note=_IRV2_TIMM),
                                          _timm("inception_resnet_v2.tf_ens_adv_in1k", None, note=_IRV2_TIMM)),
    "inception_resnet_v2_imagenet": _IRV2_KERAS,
    "xception": _XCEPTION_KERAS + (_XCEPTION_TIMM,),
    "xception_imagenet": _XCEPTION_KERAS + (_XCEPTION_TIMM,),
    "inception_v4": (_timm("inception_v4.tf_in1k"),),
    "googlenet_bn": (_GOOGLENET_TV,),
    "googlenet_bn_imagenet": (_GOOGLENET_TV,),
}


def preset_dict(preset: Preset) -> dict:
    """A preset as `inception-keras list --json` shows it: its fields, the upstream `url` and `hash` among them."""
    return dataclasses.asdict(preset)


def presets_for(network: str) -> tuple[Preset, ...]:
    """The presets of `network` (a name of PRESETS or an architecture file named as one), default first; ()."""
    if network in PRESETS:
        return PRESETS[network]
    stem = os.path.basename(str(network))
    stem = stem[: -len(".yaml")] if stem.endswith(".yaml") else stem
    return PRESETS.get(stem, ())


def find_preset(network: str, weights: str) -> Preset | None:
    """The preset `weights` names for `network` ("imagenet": the first with an importer); None when `weights` is
    no preset's name. ConfigError when "imagenet" is asked of a network without presets."""
    presets = presets_for(network)
    if weights == "imagenet":
        usable = [p for p in presets if p.importer]
        if not usable:
            raise ConfigError(f"weights 'imagenet': {network} has no pretrained weights "
                              f"(networks with presets: {', '.join(PRESETS)})")
        return usable[0]
    return next((p for p in presets if p.name == weights), None)


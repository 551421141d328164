"""One constructor per network, named as keras.applications (and torchvision, timm) name them, with
keras.applications' arguments; `preprocess_input(x, network)` for [0, 255] images. Each is `create_model` of a
shipped architecture (the file named in its docstring); weights default to None (no download unless asked)."""
from __future__ import annotations

from inception_keras.zoo.create import create_model, preprocess_input

# constructor -> shipped architecture
NETWORKS = {
    "InceptionV3": "inception_v3",  # keras.applications.InceptionV3
    "InceptionResNetV2": "inception_resnet_v2",  # keras.applications.InceptionResNetV2
    "Xception": "xception",  # keras.applications.Xception
    "InceptionV4": "inception_v4",  # timm inception_v4
    "GoogLeNet": "googlenet_bn",  # torchvision.models.googlenet (BN, the network of its ImageNet weights)
}


def _constructor(cls: str, arch: str):
    def construct(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=None,
                  classifier_activation="softmax", **kwargs):
        return create_model(arch, weights=weights, include_top=include_top, input_tensor=input_tensor,
                            input_shape=input_shape, pooling=pooling, classes=classes,
                            classifier_activation=classifier_activation, **kwargs)

    construct.__name__ = construct.__qualname__ = cls
    construct.__doc__ = (f"{cls}: `create_model('{arch}', ...)` (arch/{arch}.yaml) with keras.applications' "
                         f"arguments; `features_only`/`out_indices` as create_model takes them.")
    return construct


InceptionV3 = _constructor("InceptionV3", NETWORKS["InceptionV3"])
InceptionResNetV2 = _constructor("InceptionResNetV2", NETWORKS["InceptionResNetV2"])
Xception = _constructor("Xception", NETWORKS["Xception"])
InceptionV4 = _constructor("InceptionV4", NETWORKS["InceptionV4"])
GoogLeNet = _constructor("GoogLeNet", NETWORKS["GoogLeNet"])

__all__ = [*NETWORKS, "NETWORKS", "preprocess_input"]

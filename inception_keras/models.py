"""The networks as keras.applications names them: `inception_keras.models.InceptionV3(include_top=False,
pooling="avg")`, `preprocess_input(x, "inception_v3")` (see zoo/models.py)."""
from inception_keras.zoo.models import (  # noqa: F401
    NETWORKS,
    GoogLeNet,
    InceptionResNetV2,
    InceptionV3,
    InceptionV4,
    Xception,
    preprocess_input,
)

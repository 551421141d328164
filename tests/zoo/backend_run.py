"""One side of tests/zoo/test_backends.py, run as `KERAS_BACKEND=<backend> python backend_run.py NAME SIZE
WEIGHTS OUT [save]`: build NAME with create_model (its weights saved to WEIGHTS with `save`, else loaded from
it), run it and its backbone (the same file) on seeded images and write the outputs and the backend's name to
OUT (.npz)."""
import sys

import keras
import numpy as np

import inception_keras as ik

name, size, weights, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
save = sys.argv[5:] == ["save"]
keras.utils.set_random_seed(0)
model = ik.create_model(name, input_shape=(size, size, 3), classifier_activation=None,
                        weights=None if save else weights)
if save:
    model.save_weights(weights)
x = np.random.default_rng(0).uniform(0, 1, (2, size, size, 3)).astype("float32")
logits = keras.ops.convert_to_numpy(model(x, training=False))
backbone = ik.create_model(name, include_top=False, pooling="avg", input_shape=(size, size, 3), weights=weights)
feats = keras.ops.convert_to_numpy(backbone.predict(x, verbose=0))
np.savez(out, logits=logits, features=feats, backend=keras.backend.backend())

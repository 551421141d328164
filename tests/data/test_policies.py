"""RandAugment and AugMix (data/policies.py): drawn statelessly per image from the batch's seed, so the same
seed gives the same batch (what an exact resume needs); images stay in [0, 1] at their shape; equalize is PIL's."""
from __future__ import annotations

import numpy as np
import pytest

from inception_keras.lang.recipe import Augment, AugMix, RandAugment

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("augment,channels", [
    (Augment(randaugment=RandAugment(ops=3, magnitude=10)), 1),
    (Augment(randaugment=RandAugment(), augmix=AugMix(alpha=0.5)), 3),
])
def test_same_seed_same_batch_in_range_and_shape(augment, channels):
    """Twice the same seed: identical batches; another seed: another batch, changed; it stays in [0, 1] at the
    input's shape; the batch size may be dynamic (an epoch's last batch)."""
    import tensorflow as tf

    from inception_keras.data.policies import apply_policies

    x = tf.random.stateless_uniform([8, 12, 12, channels], [1, 2])
    f = tf.function(lambda x, s: apply_policies(tf, x, s, augment),
                    input_signature=[tf.TensorSpec([None, 12, 12, channels]), tf.TensorSpec([2], tf.int64)])
    a, b, c = (f(x, tf.constant(s, tf.int64)).numpy() for s in ([5, 6], [5, 6], [5, 7]))
    assert a.shape == x.shape and a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.allclose(a, x.numpy())


def test_equalize_matches_pil():
    """The equalize operation gives PIL's ImageOps.equalize, channel by channel, on 8-bit images."""
    import tensorflow as tf
    from PIL import Image, ImageOps

    from inception_keras.data import policies

    rng = np.random.default_rng(0)
    pixels = (rng.beta(2, 5, size=(20, 24, 3)) * 255).astype(np.uint8)
    pixels[..., 2] = 77  # one value only: PIL leaves it as it is
    ours = policies.equalize(tf, tf.constant(pixels / 255.0, tf.float32)).numpy()
    theirs = np.asarray(ImageOps.equalize(Image.fromarray(pixels, "RGB")))
    assert np.array_equal(np.round(ours * 255).astype(np.uint8), theirs)

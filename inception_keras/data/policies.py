"""RandAugment and AugMix of a training batch, each image drawing its own operations from the batch's seed.

Written with stateless TensorFlow ops (tf.random.stateless_*, tf.raw_ops.ImageProjectiveTransformV3), not with
Keras' RandAugment and AugMix layers: those draw from a stateful `SeedGenerator`, whose draws tf.data's
parallel map would hand to batches in whatever order it runs them, so a resumed run would not see the
uninterrupted run's images. Here every draw comes from the batch's seed, which `data.pipeline` derives from the
recipe's seed and the epoch (as the rest of the augmentation and data.mix), split into one seed per image.

- RandAugment (Cubuk et al. 2020): N operations in turn, each drawn uniformly from the paper's 14 (identity,
  autocontrast, equalize, rotate, solarize, color, posterize, contrast, brightness, sharpness, shear x/y,
  translate x/y), all of magnitude M out of 10, a random sign where the operation has one.
- AugMix (Hendrycks et al. 2020): k chains of 1 to 3 operations drawn from the paper's 9 (autocontrast,
  equalize, posterize, rotate, solarize, shear x/y, translate x/y: none of the colour operations, which
  overlap the test corruptions), each of a strength drawn from [0.1, severity] out of 10; the chains mixed by
  Dirichlet(alpha) weights, and the mixture blended with the original by a Beta(alpha, alpha) weight.
  (The paper's Jensen-Shannon consistency loss is not part of it: that is a loss, not an augmentation.)

Magnitude m in [0, 1] (the level / 10) maps as timm's: rotate 30 m degrees, shear 0.3 m, translate 0.45 m of the
size, solarize above 1 - m, posterize to 8 - round(4 m) bits, colour/contrast/brightness/sharpness by a factor
1 +- 0.9 m. Geometric operations fill with grey (0.5). Images are float32 in [0, 1], [N, H, W, C], C 1 or 3
(colour is the identity on grey images); the output stays in [0, 1] at the input's shape.
"""
from __future__ import annotations

import math

RANDAUGMENT_OPS = ("identity", "autocontrast", "equalize", "rotate", "solarize", "color", "posterize", "contrast",
                   "brightness", "sharpness", "shear_x", "shear_y", "translate_x", "translate_y")
AUGMIX_OPS = ("autocontrast", "equalize", "posterize", "rotate", "solarize", "shear_x", "shear_y", "translate_x",
              "translate_y")
MAX_DEPTH = 3
FILL = 0.5


def _affine(tf, x, a0, a1, a2, b0, b1, b2):
    """One image [H, W, C] resampled: output pixel (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2)."""
    t = tf.cast(tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0])[None], tf.float32)
    out = tf.raw_ops.ImageProjectiveTransformV3(images=x[None], transforms=t, output_shape=tf.shape(x)[:2],
                                                interpolation="BILINEAR", fill_mode="CONSTANT",
                                                fill_value=FILL)
    return out[0]


def _grey(tf, x):
    if x.shape[-1] == 1:
        return x
    return tf.reduce_sum(x * tf.constant([0.299, 0.587, 0.114]), axis=-1, keepdims=True)


def _blend(tf, x, other, f):
    return tf.clip_by_value(other + f * (x - other), 0.0, 1.0)


def equalize(tf, x):
    """PIL's ImageOps.equalize per channel, on the image's 8-bit values."""
    q = tf.cast(tf.round(x * 255.0), tf.int32)
    flat = tf.transpose(tf.reshape(q, [-1, tf.shape(x)[-1]]))  # [C, H*W]
    hist = tf.math.bincount(flat, minlength=256, maxlength=256, axis=-1)  # [C, 256]
    last = 255 - tf.argmax(tf.reverse(tf.cast(hist > 0, tf.int32), [1]), axis=1, output_type=tf.int32)
    step = (tf.reduce_sum(hist, axis=1) - tf.gather(hist, last, batch_dims=1)) // 255  # [C]
    lut = (tf.cumsum(hist, axis=1, exclusive=True) + (step // 2)[:, None]) // tf.maximum(step, 1)[:, None]
    lut = tf.where(step[:, None] > 0, tf.minimum(lut, 255), tf.range(256)[None])  # step 0: unchanged
    out = tf.gather(lut, flat, batch_dims=1)  # [C, H*W]
    return tf.reshape(tf.transpose(tf.cast(out, tf.float32) / 255.0), tf.shape(x))


def _operations(tf, x, m):
    """{name: a function giving x under that operation}, m the signed magnitude in [-1, 1]."""
    h, w = tf.cast(tf.shape(x)[0], tf.float32), tf.cast(tf.shape(x)[1], tf.float32)
    cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
    f = 1.0 + 0.9 * m
    am = tf.abs(m)

    def rotate():
        c, s = tf.cos(m * math.pi / 6.0), tf.sin(m * math.pi / 6.0)
        return _affine(tf, x, c, s, cx - c * cx - s * cy, -s, c, cy + s * cx - c * cy)

    def autocontrast():
        lo = tf.reduce_min(x, axis=[0, 1], keepdims=True)
        hi = tf.reduce_max(x, axis=[0, 1], keepdims=True)
        return tf.where(hi > lo, (x - lo) / tf.maximum(hi - lo, 1e-6), x)

    def posterize():
        drop = tf.pow(2.0, tf.round(4.0 * am))
        return tf.floor(tf.round(x * 255.0) / drop) * drop / 255.0

    def sharpness():
        k = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
        kernel = tf.tile(k[:, :, None, None], [1, 1, x.shape[-1], 1])
        smooth = tf.nn.depthwise_conv2d(x[None], kernel, [1, 1, 1, 1], "SAME")[0]
        return _blend(tf, x, smooth, f)

    return {
        "identity": lambda: x,
        "autocontrast": autocontrast,
        "equalize": lambda: equalize(tf, x),
        "rotate": rotate,
        "solarize": lambda: tf.where(x > 1.0 - am, 1.0 - x, x),
        "color": lambda: _blend(tf, x, _grey(tf, x), f),
        "posterize": posterize,
        "contrast": lambda: _blend(tf, x, tf.reduce_mean(_grey(tf, x)), f),
        "brightness": lambda: _blend(tf, x, tf.zeros_like(x), f),
        "sharpness": sharpness,
        "shear_x": lambda: _affine(tf, x, 1.0, 0.3 * m, -0.3 * m * cy, 0.0, 1.0, 0.0),
        "shear_y": lambda: _affine(tf, x, 1.0, 0.0, 0.0, 0.3 * m, 1.0, -0.3 * m * cx),
        "translate_x": lambda: _affine(tf, x, 1.0, 0.0, 0.45 * m * w, 0.0, 1.0, 0.0),
        "translate_y": lambda: _affine(tf, x, 1.0, 0.0, 0.0, 0.0, 1.0, 0.45 * m * h),
    }


def _apply(tf, x, names, u_op, u_sign, level):
    """x under the operation u_op (uniform in [0, 1)) picks from `names`, at `level` in [0, 1] with a random sign."""
    m = tf.where(u_sign < 0.5, -level, level)
    ops = _operations(tf, x, m)
    index = tf.minimum(tf.cast(u_op * len(names), tf.int32), len(names) - 1)
    out = tf.switch_case(index, [ops[n] for n in names])
    return tf.ensure_shape(tf.clip_by_value(out, 0.0, 1.0), x.shape)


def _randaugment(tf, x, seed, n: int, magnitude: int):
    u = tf.random.stateless_uniform([n, 2], seed)

    def step(i, x):  # a loop, not n copies of the operations: a small graph, traced fast every epoch
        return i + 1, _apply(tf, x, RANDAUGMENT_OPS, u[i, 0], u[i, 1], magnitude / 10.0)

    return tf.while_loop(lambda i, x: i < n, step, (tf.constant(0), x))[1]


def _augmix(tf, x, seed, width: int, severity: int, alpha: float):
    fold = tf.random.experimental.stateless_fold_in
    g = tf.random.stateless_gamma([width], fold(seed, 1), alpha=alpha)
    weights = g / tf.maximum(tf.reduce_sum(g), 1e-12)  # Dirichlet(alpha, ..., alpha)
    a, b = tf.unstack(tf.random.stateless_gamma([2], fold(seed, 2), alpha=alpha))
    blend = a / tf.maximum(a + b, 1e-12)  # Beta(alpha, alpha)
    u = tf.random.stateless_uniform([width, 1 + 3 * MAX_DEPTH], fold(seed, 3))

    def chain(c, mixed):
        depth = 1 + tf.minimum(tf.cast(u[c, 0] * MAX_DEPTH, tf.int32), MAX_DEPTH - 1)

        def step(j, y):
            level = (0.1 + (severity - 0.1) * u[c, 3 + 3 * j]) / 10.0
            return j + 1, _apply(tf, y, AUGMIX_OPS, u[c, 1 + 3 * j], u[c, 2 + 3 * j], level)

        y = tf.while_loop(lambda j, y: j < depth, step, (tf.constant(0), x))[1]
        return c + 1, mixed + weights[c] * y

    mixed = tf.while_loop(lambda c, m: c < width, chain, (tf.constant(0), tf.zeros_like(x)))[1]
    return tf.clip_by_value((1.0 - blend) * x + blend * mixed, 0.0, 1.0)


def apply_policies(tf, images, seed, augment):
    """The batch under the recipe's RandAugment, then AugMix (recipe.Augment); `seed`: an int [2] tensor."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), tf.shape(images)[0])
    ra, am = augment.randaugment, augment.augmix

    def one(pair):
        x, s = pair
        if ra:
            x = _randaugment(tf, x, tf.random.experimental.stateless_fold_in(s, 1), ra.ops, ra.magnitude)
        if am:
            x = _augmix(tf, x, tf.random.experimental.stateless_fold_in(s, 2), am.width, am.severity, am.alpha)
        return x

    return tf.map_fn(one, (images, seeds), fn_output_signature=tf.TensorSpec(images.shape[1:], tf.float32))

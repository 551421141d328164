"""MixUp and CutMix of a training batch, labels mixed in the same proportion (timm's `Mixup`, batch mode).

Each batch is mixed with itself reversed, by a weight drawn from Beta(alpha, alpha) (as a ratio of two Gamma
draws); CutMix pastes a box of the reversed batch whose side is sqrt(1 - weight) of the image's, centred
anywhere, clipped, and the labels take the box's real area. With both on, each batch takes one of them with
probability 0.5. Every draw is a stateless random op from the batch's seed, which `data.pipeline` derives from
the recipe's seed and the epoch, so a resumed run mixes as the uninterrupted one did. Written in TensorFlow ops
(Keras' MixUp and CutMix layers draw from a stateful generator, which tf.data's parallel calls would reorder).
"""
from __future__ import annotations


def _beta(tf, seed, alpha: float):
    a = tf.random.stateless_gamma([], tf.random.experimental.stateless_fold_in(seed, 1), alpha=alpha)
    b = tf.random.stateless_gamma([], tf.random.experimental.stateless_fold_in(seed, 2), alpha=alpha)
    return a / tf.maximum(a + b, 1e-12)


def _mixup(tf, x, y, seed, alpha: float):
    lam = _beta(tf, seed, alpha)
    return lam * x + (1 - lam) * tf.reverse(x, [0]), lam


def _cutmix(tf, x, y, seed, alpha: float):
    lam = _beta(tf, seed, alpha)
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    cut = tf.sqrt(1.0 - lam)
    centre = tf.random.stateless_uniform([2], tf.random.experimental.stateless_fold_in(seed, 3))
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    top = tf.cast(tf.clip_by_value(tf.round(centre[0] * h - cut * h / 2), 0, h), tf.int32)
    bottom = tf.cast(tf.clip_by_value(tf.round(centre[0] * h + cut * h / 2), 0, h), tf.int32)
    left = tf.cast(tf.clip_by_value(tf.round(centre[1] * w - cut * w / 2), 0, w), tf.int32)
    right = tf.cast(tf.clip_by_value(tf.round(centre[1] * w + cut * w / 2), 0, w), tf.int32)
    rows = tf.logical_and(tf.range(height) >= top, tf.range(height) < bottom)
    cols = tf.logical_and(tf.range(width) >= left, tf.range(width) < right)
    box = tf.cast(tf.logical_and(rows[:, None], cols[None, :]), x.dtype)[None, :, :, None]
    mixed = x * (1 - box) + tf.reverse(x, [0]) * box
    area = tf.cast((bottom - top) * (right - left), tf.float32) / (h * w)
    return mixed, 1.0 - area


def mix_batch(tf, x, y, seed, mixup: float, cutmix: float):
    """(images, one-hot labels) of a batch, mixed; `mixup`, `cutmix`: the Beta distributions' alpha, 0 off."""
    if mixup and cutmix:
        pick = tf.random.stateless_uniform([], tf.random.experimental.stateless_fold_in(seed, 4)) < 0.5
        x2, lam = tf.cond(pick, lambda: _mixup(tf, x, y, seed, mixup), lambda: _cutmix(tf, x, y, seed, cutmix))
    elif mixup:
        x2, lam = _mixup(tf, x, y, seed, mixup)
    else:
        x2, lam = _cutmix(tf, x, y, seed, cutmix)
    return x2, lam * y + (1 - lam) * tf.reverse(y, [0])

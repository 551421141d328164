"""Data augmentation from a recipe's `augment:` section, written with Keras ops so that it runs on any backend.

Every random choice an image needs is one row of uniform numbers in [0, 1) (`Augmenter.draws` of them): the
transforms themselves (`Augmenter.transform`) are plain functions of the images and that row. So the same
declaration runs
- in tf.data (the TensorFlow trainer): `tf_augment` draws the rows with stateless random ops from a seed per
  batch, which `data.pipeline` derives from the recipe's `seed`, so runs are reproducible whatever tf.data
  runs in parallel;
- as a Keras layer on the accelerator (tools/gpu_check.py, Keras on JAX): `Augmenter` is a layer whose
  `call(images, training=True)` draws the rows from its `keras.random.SeedGenerator`; with `training=False`
  (validation, inference) it passes images through.

Images are float32 in [0, 1], [batch, height, width, channels]. Order: the geometric transforms as one
affine resampling per image (random resized crop, flip, translation), then photometric jitter (brightness,
contrast, saturation, hue, lighting), then random erasing. The random resized crop follows torchvision's
`RandomResizedCrop.get_params`: up to 10 tries of an area fraction and a log-uniform aspect ratio, the first
box that fits, else the whole image at the nearest allowed aspect ratio, centred.
"""
from __future__ import annotations

import math

import keras
from keras import ops

from inception_keras.errors import ConfigError

CROP_TRIES = 10
CROP_DRAWS = 2 * CROP_TRIES + 2  # area and ratio per try, then the position
GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale
# AlexNet's PCA lighting: eigenvalues and eigenvectors (columns) of ImageNet's RGB covariance, pixels in [0, 1]
# (as fb.resnet.torch and timm use them)
LIGHTING_EIGVAL = (0.2175, 0.0188, 0.0045)
LIGHTING_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))
COLOR_KEYS = ("brightness", "contrast", "saturation", "hue", "lighting")
RGB_ONLY = ("saturation", "hue", "lighting")


def columns(augment, crop_in_batch: bool = True) -> tuple[dict, int]:
    """Which columns of an image's row of uniform numbers each transform reads: ({name: (start, stop)}, total).
    `crop_in_batch=False`: the crop and the flip are done per example (data.py), not here."""
    out: dict = {}
    n = 0

    def take(name, k):
        nonlocal n
        out[name] = (n, n + k)
        n += k

    if augment is None:
        return out, 0
    if augment.crop and crop_in_batch:
        take("crop", CROP_DRAWS)
        if augment.crop.interpolation == "random":
            take("interpolation", 1)
    if augment.flip and crop_in_batch:
        take("flip", 1)
    if augment.translate:
        take("translate", 2)
    if augment.color:
        for key in COLOR_KEYS:
            if getattr(augment.color, key):
                take(key, 3 if key == "lighting" else 1)
    if augment.erase and augment.erase.probability:
        take("erase", 5)
    return out, n


def check_channels(augment, channels: int) -> None:
    """Saturation, hue and lighting need colour: a recipe that asks for them on grey images is a mistake."""
    if augment is None or augment.color is None or channels == 3:
        return
    asked = [k for k in RGB_ONLY if getattr(augment.color, k)]
    if asked:
        raise ConfigError(f"augment.color.{asked[0]}: needs 3 channels; the architecture's input has {channels} "
                          f"(set {', '.join(f'augment.color.{k}' for k in asked)} to 0)")


def crop_boxes(u, height, width, scale, ratio):
    """torchvision's RandomResizedCrop.get_params for a batch: (top, left, box height, box width), float32 [N].

    u: [N, >= CROP_DRAWS] uniform numbers in [0, 1); height, width: the images' sizes (numbers, or [N] tensors
    when every image has its own size).
    """
    u = ops.cast(u, "float32")
    h_img = ops.reshape(ops.cast(height, "float32"), (-1, 1))
    w_img = ops.reshape(ops.cast(width, "float32"), (-1, 1))
    t = CROP_TRIES
    area = h_img * w_img * (scale[0] + (scale[1] - scale[0]) * u[:, :t])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = ops.exp(log_lo + (log_hi - log_lo) * u[:, t:2 * t])
    w = ops.round(ops.sqrt(area * aspect))
    h = ops.round(ops.sqrt(area / aspect))
    fits = ops.logical_and(ops.logical_and(w > 0, h > 0), ops.logical_and(w <= w_img, h <= h_img))
    first = ops.argmax(ops.cast(fits, "int32"), axis=1)[:, None]
    found = ops.any(fits, axis=1)
    h = ops.take_along_axis(h, first, axis=1)[:, 0]
    w = ops.take_along_axis(w, first, axis=1)[:, 0]
    h_img, w_img = h_img[:, 0], w_img[:, 0]
    # the fallback: the whole image, cut to the nearest allowed aspect ratio, centred
    in_ratio = w_img / h_img
    narrow, wide = in_ratio < ratio[0], in_ratio > ratio[1]
    fw = ops.where(wide, ops.round(h_img * ratio[1]), w_img)
    fh = ops.where(narrow, ops.round(w_img / ratio[0]), h_img)
    h = ops.where(found, h, fh)
    w = ops.where(found, w, fw)
    top = ops.where(found, ops.floor(u[:, 2 * t] * (h_img - h + 1)), ops.floor((h_img - h) / 2))
    left = ops.where(found, ops.floor(u[:, 2 * t + 1] * (w_img - w + 1)), ops.floor((w_img - w) / 2))
    top = ops.clip(top, 0, h_img - h)
    left = ops.clip(left, 0, w_img - w)
    return top, left, h, w


def _factor(u, amount: float):
    """A factor drawn uniformly from [max(0, 1 - amount), 1 + amount], shaped to scale images [N, 1, 1, 1]."""
    lo = max(0.0, 1.0 - amount)
    return ops.reshape(lo + (1.0 + amount - lo) * u, (-1, 1, 1, 1))


def _grey(images):
    if images.shape[-1] == 1:
        return images
    return ops.sum(images * ops.convert_to_tensor(GREY, "float32"), axis=-1, keepdims=True)


class Augmenter(keras.layers.Layer):
    """The recipe's augmentation as a Keras layer: `layer(images, training=True)` augments, otherwise images
    pass through. `transform(images, u)` is the same computation with the random numbers given.

    `crop_in_batch=False` leaves the random resized crop and the flip out: image folders and streamed data sets
    crop (and flip) each image at its stored size before resizing (data.py), and the batch gets the rest.
    """

    def __init__(self, augment, input_shape, seed: int = 0, crop_in_batch: bool = True, **kwargs):
        kwargs.setdefault("name", "augment")
        super().__init__(dtype="float32", **kwargs)
        self.augment = augment
        self.image_shape = tuple(int(d) for d in input_shape)
        check_channels(augment, self.image_shape[-1])
        self.crop_in_batch = crop_in_batch
        self.columns, self.draws = columns(augment, crop_in_batch)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, images, training=None):
        if not training or not self.draws:
            return images
        u = keras.random.uniform((ops.shape(images)[0], self.draws), seed=self.generator)
        return self.transform(images, u)

    def _u(self, u, name):
        start, stop = self.columns[name]
        return u[:, start:stop]

    def transform(self, images, u):
        """The augmented images, from images [N, H, W, C] in [0, 1] and uniform numbers u [N, draws]."""
        images = ops.cast(images, "float32")
        u = ops.cast(u, "float32")
        images = self._geometric(images, u)
        images = self._color(images, u)
        return self._erase(images, u)

    # ------------------------------------------------------------------ crop, flip, translation: one resampling

    def _geometric(self, images, u):
        a = self.augment
        crop, flip = "crop" in self.columns, "flip" in self.columns
        if not (crop or flip or a.translate):
            return images
        if not (crop or a.translate):  # a flip alone moves pixels: no resampling (a blend is cheaper than where)
            mirror = ops.reshape(ops.cast(self._u(u, "flip")[:, 0] < 0.5, "float32"), (-1, 1, 1, 1))
            return images + mirror * (ops.flip(images, axis=2) - images)
        height, width = self.image_shape[0], self.image_shape[1]
        n = ops.shape(u)[0]
        one = ops.ones((n,), "float32")
        zero = ops.zeros((n,), "float32")
        if crop:
            top, left, h, w = crop_boxes(self._u(u, "crop"), height, width, a.crop.scale, a.crop.ratio)
            sx, sy = w / width, h / height
        else:
            top, left, sx, sy = zero, zero, one, one
        dx = dy = zero
        if a.translate:
            shift = self._u(u, "translate")
            mx, my = round(a.translate * width), round(a.translate * height)
            dx = ops.floor(shift[:, 0] * (2 * mx + 1)) - mx  # whole pixels in [-mx, mx]
            dy = ops.floor(shift[:, 1] * (2 * my + 1)) - my
        f = ops.cast(self._u(u, "flip")[:, 0] < 0.5, "float32") if flip else zero
        # output pixel (x, y) -> input point (a0 x + a2, b1 y + b2), pixel centres aligned
        a0 = sx * (1.0 - 2.0 * f)
        a2 = left - 0.5 + sx * ((1.0 - f) * (0.5 - dx) + f * (width - 0.5 + dx))
        b1 = sy
        b2 = top - 0.5 + sy * (0.5 - dy)
        transform = ops.stack([a0, zero, a2, zero, b1, b2, zero, zero], axis=1)
        fill = "constant" if a.translate else "nearest"
        out = ops.image.affine_transform(images, transform, interpolation="bilinear", fill_mode=fill)
        if crop and a.crop.interpolation == "random":
            nearest = ops.image.affine_transform(images, transform, interpolation="nearest", fill_mode=fill)
            pick = ops.reshape(self._u(u, "interpolation")[:, 0] < 0.5, (-1, 1, 1, 1))
            out = ops.where(pick, nearest, out)
        return out

    # ------------------------------------------------------------------ photometric jitter

    def _color(self, images, u):
        c = self.augment.color
        if c is None:
            return images
        if c.brightness:
            images = ops.clip(images * _factor(self._u(u, "brightness")[:, 0], c.brightness), 0.0, 1.0)
        if c.contrast:
            f = _factor(self._u(u, "contrast")[:, 0], c.contrast)
            mean = _grey(ops.mean(images, axis=(1, 2), keepdims=True))  # the grey image's mean, one pass
            images = ops.clip(f * images + (1.0 - f) * mean, 0.0, 1.0)
        if c.saturation:
            f = _factor(self._u(u, "saturation")[:, 0], c.saturation)
            images = ops.clip(f * images + (1.0 - f) * _grey(images), 0.0, 1.0)
        if c.hue:
            shift = ops.reshape(c.hue * (2.0 * self._u(u, "hue")[:, 0] - 1.0), (-1, 1, 1))
            hsv = ops.image.rgb_to_hsv(images)
            hue = hsv[..., 0] + shift
            hue = hue - ops.floor(hue)
            images = ops.clip(ops.image.hsv_to_rgb(ops.stack([hue, hsv[..., 1], hsv[..., 2]], axis=-1)), 0.0, 1.0)
        if c.lighting:
            p = ops.clip(self._u(u, "lighting"), 1e-6, 1.0 - 1e-6)
            alpha = c.lighting * math.sqrt(2.0) * ops.erfinv(2.0 * p - 1.0)  # N(0, lighting), [N, 3]
            weights = alpha * ops.convert_to_tensor(LIGHTING_EIGVAL, "float32")
            rgb = ops.matmul(weights, ops.transpose(ops.convert_to_tensor(LIGHTING_EIGVEC, "float32")))
            images = ops.clip(images + ops.reshape(rgb, (-1, 1, 1, 3)), 0.0, 1.0)
        return images

    # ------------------------------------------------------------------ random erasing

    def _erase(self, images, u):
        e = self.augment.erase
        if "erase" not in self.columns:
            return images
        height, width = self.image_shape[0], self.image_shape[1]
        v = self._u(u, "erase")
        area = height * width * (e.scale[0] + (e.scale[1] - e.scale[0]) * v[:, 1])
        log_lo, log_hi = math.log(e.ratio[0]), math.log(e.ratio[1])
        aspect = ops.exp(log_lo + (log_hi - log_lo) * v[:, 2])
        h = ops.clip(ops.round(ops.sqrt(area * aspect)), 1, height)
        w = ops.clip(ops.round(ops.sqrt(area / aspect)), 1, width)
        top = ops.floor(v[:, 3] * (height - h + 1))
        left = ops.floor(v[:, 4] * (width - w + 1))
        rows = ops.reshape(ops.arange(height, dtype="float32"), (1, -1, 1))
        cols = ops.reshape(ops.arange(width, dtype="float32"), (1, 1, -1))

        def inside(x, start, size):
            start, size = ops.reshape(start, (-1, 1, 1)), ops.reshape(size, (-1, 1, 1))
            return ops.logical_and(x >= start, x < start + size)

        mask = ops.logical_and(inside(rows, top, h), inside(cols, left, w))
        mask = ops.logical_and(mask, ops.reshape(v[:, 0] < e.probability, (-1, 1, 1)))
        return ops.where(mask[..., None], ops.cast(e.value, "float32"), images)


def tf_augment(augmenter: Augmenter, images, seed):
    """In tf.data: the augmented batch, its random numbers drawn statelessly from `seed` (an int [2] tensor)."""
    import tensorflow as tf

    if not augmenter.draws:
        return images
    u = tf.random.stateless_uniform(tf.stack([tf.shape(images)[0], augmenter.draws]), seed=seed)
    return augmenter.transform(images, u)

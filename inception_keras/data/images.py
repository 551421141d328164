"""Operations on images, as TensorFlow ops (`tf` passed in, so that importing this module costs nothing): decode,
channels (grey <-> RGB), the central square, OpenCV's bilinear resize bit for bit, one image resized by a named or
drawn method, the random resized crop of a stored image, and `to_input`: the validation preprocessing that the
pipeline applies to in-memory data sets and `predict` to image files."""
from __future__ import annotations

from inception_keras.errors import ConfigError

RESIZE_METHODS = ("bilinear", "area", "nearest", "bicubic")  # the paper's random interpolation


def decode(tf, contents, channels: int):
    """Encoded bytes (JPEG, PNG, GIF's first frame, BMP) -> uint8 [H, W, channels]."""
    return tf.io.decode_image(contents, channels=channels, expand_animations=False)


def channel_note(stored: int | None, wanted: int) -> str | None:
    """How stored images of `stored` channels reach the architecture's `wanted` (None: as they are), for the log."""
    if stored is None or stored == wanted:
        return None
    if stored == 1 and wanted == 3:
        return "images have 1 channel, the architecture 3: grey copied to R, G and B"
    if stored == 3 and wanted == 1:
        return "images have 3 channels, the architecture 1: converted to grey (ITU-R 601 luma)"
    raise ConfigError(f"images have {stored} channels and the architecture {wanted}: only 1 <-> 3 is converted")


def to_channels(tf, x, wanted: int):
    """Images [..., C] with `wanted` channels: grey copied to R, G and B, or RGB to grey (ITU-R 601 luma)."""
    have = x.shape[-1]
    if have == wanted:
        return x
    if have == 1 and wanted == 3:
        return tf.image.grayscale_to_rgb(x)
    return tf.image.rgb_to_grayscale(x)


def _opencv_taps(tf, src, dst, clamp: bool):
    """Source indices and 11-bit fixed-point weights of OpenCV's INTER_LINEAR along one axis (src -> dst)."""
    d = tf.range(dst, dtype=tf.float64)
    f = tf.cast((d + 0.5) * (tf.cast(src, tf.float64) / tf.cast(dst, tf.float64)) - 0.5, tf.float32)
    s = tf.floor(f)
    f = f - s
    s = tf.cast(s, tf.int32)
    if clamp:  # columns: the weight goes to the edge pixel; rows keep theirs and clip the index
        f = tf.where((s < 0) | (s >= src - 1), tf.zeros_like(f), f)
        s = tf.clip_by_value(s, 0, src - 1)
    w0 = tf.cast(tf.round((1.0 - f) * 2048.0), tf.int32)
    w1 = tf.cast(tf.round(f * 2048.0), tf.int32)
    return tf.clip_by_value(s, 0, src - 1), tf.clip_by_value(s + 1, 0, src - 1), w0, w1


def opencv_resize(tf, x, height: int, width: int):
    """uint8 [..., h, w, c] -> uint8 [..., height, width, c], bit for bit what MXNet's
    `gluon.data.vision.transforms.Resize` returns (OpenCV 3's cv2.resize, INTER_LINEAR, 8-bit: weights in
    11-bit fixed point, rows by the SSE2 path's 16-bit multiply-high, the result rounded to uint8).
    Checked on all 10,000 Fashion-MNIST test images at 96x96 (docs/fidelity.md)."""
    shape = tf.shape(x)
    h, w = shape[-3], shape[-2]
    x = tf.cast(x, tf.int32)
    c0, c1, a0, a1 = _opencv_taps(tf, w, width, clamp=True)
    r0, r1, b0, b1 = _opencv_taps(tf, h, height, clamp=False)
    rows = tf.gather(x, c0, axis=-2) * a0[:, None] + tf.gather(x, c1, axis=-2) * a1[:, None]
    s0 = tf.bitwise.right_shift(tf.gather(rows, r0, axis=-3), 4)
    s1 = tf.bitwise.right_shift(tf.gather(rows, r1, axis=-3), 4)
    y = (tf.bitwise.right_shift(s0 * b0[:, None, None], 16) + tf.bitwise.right_shift(s1 * b1[:, None, None], 16))
    return tf.cast(tf.clip_by_value(tf.bitwise.right_shift(y + 2, 2), 0, 255), tf.uint8)


def crop_to_square(tf, x, fraction: float = 1.0):
    """The central square, its side `fraction` of the shorter side."""
    h, w = tf.shape(x)[-3], tf.shape(x)[-2]
    s = tf.minimum(h, w)
    if fraction != 1.0:
        s = tf.maximum(1, tf.cast(tf.round(tf.cast(s, tf.float32) * fraction), tf.int32))
    return tf.image.crop_to_bounding_box(x, (h - s) // 2, (w - s) // 2, s, s)


def resize_one(tf, image, size, pick=None):
    """One image to `size` as uint8: bilinear, or with `pick` in [0, 1) one of RESIZE_METHODS."""
    image = tf.cast(image, tf.float32)
    if pick is None:
        out = tf.image.resize(image, size, method="bilinear")
    else:
        index = tf.minimum(tf.cast(pick * len(RESIZE_METHODS), tf.int32), len(RESIZE_METHODS) - 1)
        out = tf.switch_case(index, [lambda m=m: tf.image.resize(image, size, method=m) for m in RESIZE_METHODS])
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)


def random_cropper(tf, crop, size, flip: bool):
    """(decoded uint8 image, seed) -> a random resized crop at `size`, uint8, mirrored with probability 0.5 when
    `flip`; and the same from encoded bytes, where JPEGs decode only the crop window."""
    from inception_keras.data.augment import CROP_DRAWS, crop_boxes

    random_method = crop.interpolation == "random"

    def draws(seed):
        return tf.random.stateless_uniform([CROP_DRAWS + 2], seed=seed)

    def finish(image, u):
        if flip:  # on the crop, before resizing: the fewest pixels
            image = tf.cond(u[CROP_DRAWS + 1] < 0.5, lambda: tf.reverse(image, [1]), lambda: image)
        return resize_one(tf, image, size, u[CROP_DRAWS] if random_method else None)

    def box(u, height, width):
        top, left, h, w = crop_boxes(u[None, :CROP_DRAWS], height, width, crop.scale, crop.ratio)
        return tf.cast(tf.stack([top[0], left[0], h[0], w[0]]), tf.int32)

    def from_image(image, seed):
        u = draws(seed)
        shape = tf.shape(image)
        b = box(u, shape[0], shape[1])
        return finish(tf.slice(image, [b[0], b[1], 0], [b[2], b[3], -1]), u)

    def from_bytes(contents, seed, channels):
        u = draws(seed)

        def jpeg():
            shape = tf.io.extract_jpeg_shape(contents)
            return tf.image.decode_and_crop_jpeg(contents, box(u, shape[0], shape[1]), channels=channels)

        def other():
            image = decode(tf, contents, channels)
            shape = tf.shape(image)
            b = box(u, shape[0], shape[1])
            return tf.slice(image, [b[0], b[1], 0], [b[2], b[3], -1])

        return finish(tf.cond(tf.io.is_jpeg(contents), jpeg, other), u)

    return from_image, from_bytes


def _needs_resize(stored: tuple, height: int, width: int, resize: str, fraction: float) -> bool:
    """Whether images of static size `stored` (None where unknown) are resized to (height, width): unless they
    already fit, a fractional or non-square central crop always is."""
    if resize == "crop" and (fraction != 1.0 or stored[0] != stored[1]):
        return True
    return stored != (height, width)


def to_input(tf, x, input_shape: tuple, resize: str = "resize", crop_fraction: float = 1.0):
    """The validation preprocessing: uint8 images [..., h, w, c] (c 1 or 3) -> float32 [..., height, width,
    channels] in [0, 1]. Channels as `to_channels` converts them; then `resize` (dataset.resize): "opencv"
    resizes as OpenCV (uint8), "crop" takes the central square (`crop_fraction` of the shorter side) first,
    "resize" and "crop" resize bilinearly in float32 without rounding; images that already fit are not resized.
    The pipeline applies it to batches of in-memory data sets, `predict` to image files: one function, so that
    a prediction sees an image as validation did."""
    height, width, channels = input_shape
    x = to_channels(tf, x, channels)
    stored = tuple(x.shape[-3:-1])
    if resize == "opencv":
        if stored != (height, width):
            x = opencv_resize(tf, x, height, width)
        return tf.cast(x, tf.float32) / 255.0
    x = tf.cast(x, tf.float32)
    if resize == "crop":
        x = crop_to_square(tf, x, crop_fraction)
    if _needs_resize(stored, height, width, resize, crop_fraction):
        x = tf.image.resize(x, (height, width), method="bilinear")
    return x / 255.0

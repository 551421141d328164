"""tf.data pipelines over a source's splits, built from the recipe (`Pipeline.from_recipe`): resized to the
architecture's input, scaled to [0, 1], channels matched, shuffled per example, augmented, batched, prefetched.

Two routes:
- in memory (IDX files, small fixed-size tfds sets): the raw uint8 images
  stay in memory at their stored size; each batch is resized after batching,
  where one vectorized resize is cheapest, in parallel with training.
- streamed (image folders, large tfds sets): decode and resize per example,
  cache the resized uint8 images in memory, shuffle with a buffer, batch.

Auto-sharding for multi-worker training is set deliberately to DATA for
every source: in-memory tensors and image lists have no files that
tf.data's FILE policy could split, and tfds' small sets are single files.
"""
from __future__ import annotations

from inception_keras.data.images import crop_to_square, opencv_resize, random_cropper, to_channels, to_input
from inception_keras.data.splits import Source, Split
from inception_keras.lang.recipe import Recipe


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's shuffling and augmentation: a resumed run draws epoch k as the uninterrupted run
    did."""
    return seed * 1_000_003 + epoch


def _random_pairs(tf, seed: int, stream: int, epoch: int | None = None):
    """Seeds for stateless random ops, one [2] int64 tensor per element: reproducible from `seed` (and the
    epoch's number when given), new every epoch, independent of how tf.data schedules its parallel calls."""
    if epoch is None:
        return tf.data.Dataset.random(seed=seed * 4 + stream, rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.random(seed=epoch_seed(seed, epoch) * 4 + stream, rerandomize_each_iteration=False).batch(2)


def pipeline(split: Split, input_shape: tuple, batch: int, training: bool, seed: int = 0, outputs: tuple | None = None,
             num_classes: int | None = None, one_hot: bool = False, resize: str = "resize",
             shuffle_buffer: int = 10000, cache: bool = True, stored_channels: int | None = None,
             partial_batch: str = "mean", augment=None, crop_fraction: float = 1.0, shuffle: bool = True):
    """A batched tf.data.Dataset of (float32 images in [0, 1] at `input_shape`, labels), every option spelled
    out (tests, one-off uses); the commands build theirs from the recipe with `Pipeline.from_recipe`.

    Labels are a dict {output: labels} when `outputs` names more than one output (auxiliary heads), else plain.
    Training data is shuffled and augmented anew at every iteration; `Pipeline.epoch(e)` gives one epoch's
    dataset instead, drawn from the epoch's own seed (what training uses, so that a resumed run sees what the
    uninterrupted one saw). `augment` (recipe.Augment) applies to training data only; `shuffle=False` keeps
    the stored order. `partial_batch="divide_by_batch_size"` adds sample weights n / batch to every
    example of a batch of n: Keras' mean loss over the batch becomes its summed loss divided by `batch`
    (d2l's trainer.step(batch_size)); weights 1 on full batches.
    """
    p = Pipeline(split, input_shape, batch, seed, outputs, num_classes, one_hot, resize, shuffle_buffer, cache,
                 stored_channels, partial_batch, augment if training else None, crop_fraction)
    return p.epoch(None, shuffle=shuffle) if training else p.validation()


class Pipeline:
    """One split's examples, decoded (and, for streams, cached) once; datasets over them per epoch."""

    def __init__(self, split: Split, input_shape: tuple, batch: int, seed: int = 0, outputs: tuple | None = None,
                 num_classes: int | None = None, one_hot: bool = False, resize: str = "resize",
                 shuffle_buffer: int = 10000, cache: bool = True, stored_channels: int | None = None,
                 partial_batch: str = "mean", augment=None, crop_fraction: float = 1.0):
        import tensorflow as tf

        from inception_keras.data.augment import Augmenter

        if partial_batch not in ("mean", "divide_by_batch_size"):
            raise ValueError(f"partial_batch must be 'mean' or 'divide_by_batch_size', got {partial_batch!r}")
        self.split, self.input_shape, self.batch, self.seed = split, tuple(input_shape), batch, seed
        self.outputs, self.num_classes, self.one_hot, self.resize = outputs, num_classes, one_hot, resize
        self.stored_channels, self.partial_batch, self.crop_fraction = stored_channels, partial_batch, crop_fraction
        self.augment = augment if augment is not None and augment.names else None
        # random resized crops come from the stored image, before it is resized: decoded anew every epoch
        self.crop_each = self.augment is not None and self.augment.crop is not None and split.images is None
        self.augmenter = (Augmenter(self.augment, input_shape, seed, crop_in_batch=not self.crop_each)
                          if self.augment else None)
        if self.augmenter is not None and not self.augmenter.draws:
            self.augmenter = None
        self.buffer = len(split.images) if split.images is not None else min(shuffle_buffer, split.count)
        if split.images is not None:
            self.base = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
        elif self.crop_each and split.files is not None:  # image folders: the file list, encoded bytes cached
            self.base = tf.data.Dataset.from_tensor_slices(([f for f, _ in split.files],
                                                            tf.constant([c for _, c in split.files], tf.int32)))
            if cache:
                self.base = self.base.map(lambda f, y: (tf.io.read_file(f), y),
                                          num_parallel_calls=tf.data.AUTOTUNE).cache()
            self.read = (lambda f: f) if cache else tf.io.read_file
            self.buffer = split.count
        elif self.crop_each:  # decoded examples (tfds): cropped as they stream
            self.base = self._stream()
        else:
            self.base = self._resized(cache)

    @classmethod
    def from_recipe(cls, config, source: Source, input_shape: tuple, *, training: bool, batch: int | None = None,
                    split: Split | None = None, outputs: tuple | None = None, classes: int | None = None,
                    seed: int | None = None, cache: bool | None = None, sample_weights: bool = True) -> Pipeline:
        """The pipeline of `source`'s training (`training`) or validation split, as the recipe declares it.

        `config` is a Recipe, or only its Dataset (evaluation: no augmentation, no seed, no label smoothing).
        From the dataset: resize, crop_fraction, shuffle_buffer, cache (unless `cache` is given); from the recipe:
        batch_size (unless `batch`), seed (unless `seed`; 0 without a recipe), and for training its augmentation
        and, with `sample_weights`, its partial_batch weights. `outputs` and `classes` shape the labels as the
        training model's loss takes them: a dict over `outputs` when there are several, one-hot over `classes`
        when the recipe smooths labels; without them labels are plain class numbers. `split` replaces the
        source's split (a part of it: `show`). Call `.epoch(e)` or `.validation()` on the result."""
        recipe = config if isinstance(config, Recipe) else None
        ds = recipe.dataset if recipe is not None else config
        if batch is None:
            if recipe is None:
                raise ValueError("Pipeline.from_recipe: a dataset without its recipe needs `batch`")
            batch = recipe.batch_size
        smooth = recipe is not None and classes is not None and (recipe.label_smoothing > 0 or (
            recipe.augment is not None and recipe.augment.mixes))
        weigh = recipe is not None and training and sample_weights
        return cls(split if split is not None else source.train if training else source.val, input_shape, batch,
                   seed=seed if seed is not None else recipe.seed if recipe is not None else 0,
                   outputs=outputs, num_classes=classes, one_hot=smooth, resize=ds.resize,
                   shuffle_buffer=ds.shuffle_buffer, cache=ds.cache if cache is None else cache,
                   stored_channels=source.channels, partial_batch=recipe.partial_batch if weigh else "mean",
                   augment=recipe.augment if recipe is not None and training else None,
                   crop_fraction=ds.crop_fraction)

    def _stream(self):
        channels = self.input_shape[2]
        return self.split.stream() if self.stored_channels is not None else self.split.stream(channels=channels)

    def _resized(self, cache: bool):
        """A stream decoded and resized to the input as uint8, cached: one cache shared by every epoch."""
        import tensorflow as tf

        height, width, channels = self.input_shape
        resize, fraction = self.resize, self.crop_fraction

        def prep_one(x, y):
            x = to_channels(tf, x, channels)
            if resize == "opencv":
                return opencv_resize(tf, x, height, width), y
            if resize == "crop":
                x = crop_to_square(tf, x, fraction)
            x = tf.image.resize(x, (height, width), method="bilinear")
            return tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8), y

        ds = self._stream().map(prep_one, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.cache() if cache else ds

    def epoch(self, epoch: int | None, shuffle: bool = True):
        """Training data of one epoch, shuffled and augmented from `epoch_seed`; None: anew at every iteration."""
        import tensorflow as tf

        def shuffled(ds):
            if not shuffle:
                return ds
            if epoch is None:
                return ds.shuffle(self.buffer, seed=self.seed, reshuffle_each_iteration=True)
            return ds.shuffle(self.buffer, seed=epoch_seed(self.seed, epoch), reshuffle_each_iteration=False)

        channels = self.input_shape[2]
        if self.crop_each:
            from_image, from_bytes = random_cropper(tf, self.augment.crop, self.input_shape[:2], self.augment.flip)
            pairs = _random_pairs(tf, self.seed, 2, epoch)
            if self.split.files is not None:
                ds = tf.data.Dataset.zip((shuffled(self.base), pairs))
                ds = ds.map(lambda fy, s: (from_bytes(self.read(fy[0]), s, channels), fy[1]),
                            num_parallel_calls=tf.data.AUTOTUNE)
            else:
                ds = tf.data.Dataset.zip((self.base, pairs))
                ds = shuffled(ds.map(lambda xy, s: (from_image(to_channels(tf, xy[0], channels), s), xy[1]),
                                     num_parallel_calls=tf.data.AUTOTUNE))
            return self._finish(ds, epoch, augment=True)
        return self._finish(shuffled(self.base), epoch, augment=True)

    def validation(self):
        return self._finish(self.base, None, augment=False)

    def _finish(self, ds, epoch: int | None, augment: bool):
        """Batches, each transformed (`_batch_transform`, with this epoch's random seeds where it needs them), the
        partial batch's weights, prefetching and sharding."""
        import tensorflow as tf

        batch = self.batch
        prep, random = self._batch_transform(augment)
        ds = ds.batch(batch)
        if not random:
            ds = ds.map(lambda x, y: prep(x, y, None), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = tf.data.Dataset.zip((ds, _random_pairs(tf, self.seed, 1, epoch)))
            ds = ds.map(lambda xy, s: prep(xy[0], xy[1], s), num_parallel_calls=tf.data.AUTOTUNE)
        if augment and self.partial_batch == "divide_by_batch_size":
            def weights(x, y):
                n = tf.shape(x)[0]
                return x, y, tf.fill([n], tf.cast(n, tf.float32) / float(batch))

            ds = ds.map(weights, num_parallel_calls=tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.prefetch(tf.data.AUTOTUNE).with_options(options)

    def _batch_transform(self, augment: bool):
        """(the function of one batch: images, labels and a random seed -> [0, 1] floats (resized here for
        in-memory images), augmented, mixed, with the labels the model's outputs take; whether it needs a seed)."""
        import tensorflow as tf

        from inception_keras.data.augment import tf_augment
        from inception_keras.data.mix import mix_batch
        from inception_keras.data.policies import apply_policies

        in_memory = self.split.images is not None
        augmenter = self.augmenter if augment else None

        def finish_labels(y):
            y = tf.cast(y, tf.int32)
            if self.one_hot:
                y = tf.one_hot(y, self.num_classes)
            if self.outputs and len(self.outputs) > 1:
                return {name: y for name in self.outputs}
            return y

        mixes = augment and self.augment is not None and self.augment.mixes and self.one_hot
        policies = augment and self.augment is not None and self.augment.policies

        def prep(x, y, s):
            if in_memory:  # stored size: resized here, a batch at a time
                x = to_input(tf, x, self.input_shape, self.resize, self.crop_fraction)
            else:  # streams were resized (and cached) as uint8 already
                x = tf.cast(x, tf.float32) / 255.0
            x = tf_augment(augmenter, x, s) if augmenter is not None else x
            if policies:
                x = apply_policies(tf, x, tf.random.experimental.stateless_fold_in(tf.cast(s, tf.int64), 98),
                                   self.augment)
            if not mixes:
                return x, finish_labels(y)
            x, y = mix_batch(tf, x, tf.one_hot(tf.cast(y, tf.int32), self.num_classes),
                             tf.random.experimental.stateless_fold_in(tf.cast(s, tf.int64), 99),
                             self.augment.mixup, self.augment.cutmix)
            return x, ({name: y for name in self.outputs} if self.outputs and len(self.outputs) > 1 else y)

        return prep, bool(augmenter is not None or mixes or policies)

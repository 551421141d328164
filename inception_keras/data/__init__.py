"""Data sources (IDX, tensorflow-datasets, image folders), image operations, the tf.data pipeline and augmentation.
Imports lang only; never engine, serve or cli.

splits     Split and Source: what every source opens into (arrays in memory, or a stream of examples)
idx        IDX files: read with every header checked, found in dataset.path, $INCEPTION_KERAS_DATA_DIR or Debian's
tfds_sets  tensorflow-datasets sets: in memory when small and of a fixed size, else streamed
folders    image folders: class folders listed and checked, streamed as they decode
sources    `open_source`: the recipe's dataset opened (the kind `auto` finds), checked against the classes
images     image operations: channels, OpenCV's resize, crops; `to_input`, the validation preprocessing
           (`predict` calls it too)
augment    the recipe's augmentation, as Keras ops (in tf.data, or a layer on the accelerator)
pipeline   tf.data pipelines: `Pipeline.from_recipe` (training epochs with their seeds, validation)
show       the picture of a recipe's training data beside its validation view
"""

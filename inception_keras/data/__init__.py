"""Data sources (IDX, tensorflow-datasets, image folders), image operations, the tf.data pipeline and augmentation. Imports lang only; never engine, interop or cli."""

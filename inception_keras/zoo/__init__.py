"""The zoo: every shipped network by name, as keras.applications' and timm's users know them. Imports weights, nn,
lang, safeio and errors only; never runs, data, engine, compare, experiments, serve or cli (nothing below imports
the zoo).

listing  what ships: networks (reference, input, parameters, presets) and recipes, as `inception-keras list`
create   `create_model` (keras.applications' arguments, timm's features_only) and `preprocess_input`
models   the constructors by keras.applications' names (InceptionV3, Xception, ...)
load     weights from a .weights.h5/.keras file onto a model, by layer name
presets  the pretrained weights its publishers give (URL and hash, copied from their source)
cache    `resolve_weights`: download with keras.utils.get_file, check the hash, convert with weights/, keep
"""

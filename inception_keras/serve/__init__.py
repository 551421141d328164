"""Using a trained model. Imports runs, nn, data and lang; never engine, experiments, weights, compare or cli.

evaluate    loss, accuracy and per-class accuracy of a run or a model file
predict     class names and probabilities for image files (the validation preprocessing of data.images)
export      SavedModel, TFLite (checked with LiteRT where installed) and ONNX, each loaded back and compared
"""

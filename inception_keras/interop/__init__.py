"""Other formats and uses of a trained model. Imports runs, nn, data and lang; never engine, compare or cli.

state_dict  PyTorch-style state dicts from .npz, .safetensors (the safetensors library) and .pth files
weights     torchvision's GoogLeNet state dict (and the d2l MXNet seed's) mapped onto our Keras models
keras_apps  keras.applications models and weight files onto ours, paired by structure (not Keras' names)
evaluate    loss, accuracy and per-class accuracy of a run or a model file
predict     class names and probabilities for image files (the validation preprocessing of data.images)
export      SavedModel, TFLite (checked with LiteRT where installed) and ONNX, each loaded back and compared
"""

"""Importing other frameworks' weights onto our models. Imports nn and lang; never runs, data, engine,
experiments, serve, compare or cli.

state_dict  PyTorch-style state dicts from .npz, .safetensors (the safetensors library) and .pth files
torchvision torchvision's GoogLeNet state dict (and the d2l MXNet seed's) mapped by name onto our Keras models
structural  timm's and torchvision's state dicts mapped by structure (the model's flow order), not by name
keras_apps  keras.applications models and weight files onto ours, paired by structure (not Keras' names)
slim        TF-Slim checkpoints (read with TensorFlow's reader) paired by Slim's layer order; its tarballs
            extracted safely
imported    writing an imported model (`--out`): the one place the importers check and write their output
"""

"""Run directories: files and atomic writes, lifecycle and lock, resolved configurations and their diff, the one model loader. Imports lang only; no TensorFlow until a model is loaded."""

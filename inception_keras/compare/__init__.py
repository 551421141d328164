"""Comparing runs: read, group, render, plot. Imports runs and lang; never TensorFlow."""
from inception_keras.compare.core import CompareWarning, compare_runs, load_runs, plot_runs

__all__ = ["CompareWarning", "compare_runs", "load_runs", "plot_runs"]

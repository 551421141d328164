"""Keras layers, the builder registry and the model builder. Imports lang only."""

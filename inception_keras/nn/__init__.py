"""Keras: the project's layers (registered for `keras.models.load_model`), one builder per layer kind, and the
model builder. Imports lang only; never data, runs or anything above them.

blocks   Keras layers Keras lacks (LRN, explicit padding, input normalization) and the `@builds` registry
builder  ArchSpec -> keras.Model (functional API): the training model (with auxiliary heads) and the inference one
"""

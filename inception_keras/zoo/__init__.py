"""The zoo: every shipped network and recipe by name (`listing`), `create_model` with keras.applications'
arguments (`create`), the constructors named as keras.applications names them (`models`), and the weight
presets (`presets`)."""

"""The model zoo: networks by name, their publishers' pretrained weights (presets), downloaded once, checked and
cached. Imports weights, nn and lang; never cli.

presets  each network's presets (publisher URL and hash, copied from the publisher's source), `resolve_weights`
cache    the weight cache: download with keras.utils.get_file, check the hash, convert with weights/, keep

(zoo-b's placeholder: zoo-a's __init__ takes its place at the merge.)
"""

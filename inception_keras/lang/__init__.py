"""The architecture and recipe languages. Never imports TensorFlow or anything above it (only errors, version).

reader    the bounded YAML reader: `Document`, every value's file, line and column
options   typed options declared once on dataclass fields (`option`, `options`, TYPES)
checks    one checker per value type (`CHECKERS`), then whole mappings (`check_mapping`, `parse_into`)
geometry  window output sizes and layer costs (`out_size`, `pool_out`, `conv_cost`, `Cost`)
kinds     the layer kinds: a registry of frozen dataclasses with their cost rules (`LAYER_KINDS`)
items     a stage's items: each one's kind and its name within the stage
templates block templates (`templates:`): their `$params`, each use checked and filled in
expr      `$param` expressions (`$c * 2`): a tokenizer and parser, integer arithmetic, no eval
arch      an architecture file's keys and the resolved `ArchSpec`
parse     `load_arch` and `parse_arch`: YAML -> ArchSpec
walk      the feature-map walk: shapes, parameters and multiply-adds of every layer
compose   `extends:` (an architecture that modifies another); overrides: `--set key=value`
recipe    training recipes; summary, diagram: the spec as a table and as a picture
resolve   the one configuration resolver: an architecture and a recipe (files and --sets, or a run's config.yaml)
          -> (ArchSpec, Recipe, the configuration config.yaml holds)
"""

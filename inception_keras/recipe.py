"""Training recipes: YAML -> validated, typed `Recipe` (no TensorFlow here).

A recipe says how to train (data, batch, epochs, optimizer, schedule,
precision, strategy); the architecture YAML says what is trained. Both are
checked the same way, and `--set key=value` overrides go into either
(`arch.` prefix for the architecture) before checking.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .errors import ConfigError, Problem
from .overrides import load
from .schema import Document, Field, check_mapping, describe, raise_if
from .spec import INITIALIZERS

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker_mirrored")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "cosine")
DATA_KINDS = ("auto", "tfds", "idx", "image_folder")

RECIPE_FIELDS = [
    Field("name", "name", "recipe name (used in run directory names)"),
    Field("dataset", "mapping", "what to train on (below)"),
    Field("epochs", "pos_int", "epochs to train"),
    Field("batch_size", "pos_int", "global batch size: split across all replicas of all workers"),
    Field("optimizer", "mapping", "optimizer (below)"),
    Field("schedule", "mapping", "learning-rate schedule (below)", default=None, nullable=True),
    Field("label_smoothing", "rate", "label smoothing of the cross-entropy loss", 0.0),
    Field("initializer", "choice", "kernel initializer for every layer (overrides the architecture's "
                                   "defaults.initializer; null keeps it)", None, INITIALIZERS, nullable=True),
    Field("precision", "choice", "float32, mixed precision, or auto (bf16 on CPUs with AMX/AVX512-BF16, "
                                 "float16 on GPUs with tensor cores, else float32)", "float32", PRECISIONS),
    Field("strategy", "choice", "tf.distribute strategy; auto: multi_worker_mirrored when TF_CONFIG is set, "
                                "mirrored over all GPUs when there are GPUs, else the default (one device)",
          "auto", STRATEGIES),
    Field("cpu_devices", "nonneg_int", "split the CPU into this many logical devices, so `mirrored` can run "
                                       "replicas without GPUs (tests); 0 leaves it whole", 0),
    Field("seed", "int", "random seed (initialization, shuffling, dropout)", 0),
    Field("steps_per_execution", "pos_int", "training steps per tf.function call", 1),
    Field("jit_compile", "choice", "XLA: auto (on GPUs), true or false", "auto", ("auto", True, False)),
]

DATASET_FIELDS = [
    Field("name", "str", "tfds name (fashion_mnist, mnist, cifar10, imagenette, ...); names the classes"),
    Field("kind", "choice", "auto: IDX files when found for (fashion_)mnist, image_folder when `path` has "
                            "class folders, else tfds", "auto", DATA_KINDS),
    Field("path", "str", "IDX directory, image folder, or tfds data_dir (--data-dir sets it)", None, nullable=True),
    Field("train_split", "str", "tfds split to train on", "train"),
    Field("validation_split", "str", "tfds split to validate on (the official test split for Fashion-MNIST)",
          "test"),
    Field("validation_fraction", "rate", "image_folder without a val/ subtree: fraction held out for "
                                         "validation", 0.1),
    Field("limit", "pos_int", "keep the first N training and N validation examples (--limit)", None,
          nullable=True),
    Field("resize", "choice", "how images reach the input size: resize (bilinear), or crop "
                              "(center crop to the aspect ratio, then resize)", "resize", ("resize", "crop")),
    Field("shuffle_buffer", "pos_int", "shuffle buffer for streamed data sets (in-memory ones are shuffled "
                                       "whole)", 10000),
    Field("cache", "bool", "cache decoded, resized examples of streamed data sets in memory", True),
]

OPTIMIZER_FIELDS = [
    Field("name", "choice", "optimizer", "sgd", OPTIMIZERS),
    Field("learning_rate", "pos_number", "initial learning rate (for the global batch)"),
    Field("momentum", "rate", "momentum (sgd, rmsprop)", 0.0),
    Field("nesterov", "bool", "Nesterov momentum (sgd)", False),
    Field("weight_decay", "nonneg_number", "decoupled weight decay (Keras' `weight_decay`)", 0.0),
    Field("clipnorm", "pos_number", "clip each gradient's norm", None, nullable=True),
]

SCHEDULE_FIELDS = [
    Field("name", "choice", "constant; step: multiply by `factor` every `every_epochs`; cosine: cosine decay to "
                            "`min_factor` x the initial rate over the run", "constant", SCHEDULES),
    Field("every_epochs", "pos_number", "step: epochs between decays", 1),
    Field("factor", "pos_number", "step: multiplier at each decay (the paper: 0.96 every 8 epochs)", 0.96),
    Field("warmup_epochs", "nonneg_number", "linear warm-up from 0 (cosine)", 0),
    Field("min_factor", "rate", "cosine: final rate as a fraction of the initial one", 0.0),
]


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str
    path: str | None
    train_split: str
    validation_split: str
    validation_fraction: float
    limit: int | None
    resize: str
    shuffle_buffer: int
    cache: bool


@dataclass(frozen=True)
class Optimizer:
    name: str
    learning_rate: float
    momentum: float
    nesterov: bool
    weight_decay: float
    clipnorm: float | None


@dataclass(frozen=True)
class Schedule:
    name: str
    every_epochs: float
    factor: float
    warmup_epochs: float
    min_factor: float


@dataclass(frozen=True)
class Recipe:
    name: str
    dataset: Dataset
    epochs: int
    batch_size: int
    optimizer: Optimizer
    schedule: Schedule
    label_smoothing: float
    initializer: str | None
    precision: str
    strategy: str
    cpu_devices: int
    seed: int
    steps_per_execution: int
    jit_compile: Any
    source: str | None = None

    def to_dict(self) -> dict:
        """The resolved recipe as plain data: every key, defaults filled (written to config.yaml)."""
        d = asdict(self)
        d.pop("source")
        return d


def load_recipe(path: str, text: str | None = None, sets: "list[tuple[str, Any]] | None" = None) -> Recipe:
    return parse_recipe(load(path, text, sets, what="recipe file"))


def parse_recipe(doc: Document) -> Recipe:
    problems: list[Problem] = []
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), f"a recipe is a mapping with keys name, dataset, epochs, batch_size, "
                                            f"optimizer; got {describe(doc.data)}")])
    top = check_mapping(doc, problems, RECIPE_FIELDS, doc.data, (), "the recipe")
    if top is None:
        raise ConfigError(problems)
    ds = check_mapping(doc, problems, DATASET_FIELDS, top.get("dataset"), ("dataset",), "dataset")
    opt = check_mapping(doc, problems, OPTIMIZER_FIELDS, top.get("optimizer"), ("optimizer",), "optimizer")
    sched = check_mapping(doc, problems, SCHEDULE_FIELDS, top.get("schedule"), ("schedule",), "schedule")
    raise_if(problems)
    if ds["kind"] == "image_folder" and not ds["path"]:
        problems.append(doc.problem(("dataset",), "kind image_folder needs `path`: the folder with one "
                                                  "subfolder per class (or train/ and val/ subtrees)"))
    if ds["kind"] == "idx" and ds["name"] not in ("fashion_mnist", "mnist") and not ds["path"]:
        problems.append(doc.problem(("dataset", "kind"), "kind idx needs `path` (a directory with the four IDX "
                                                         "files) unless the name is mnist or fashion_mnist"))
    raise_if(problems)
    top = {k: v for k, v in top.items() if k not in ("dataset", "optimizer", "schedule")}
    return Recipe(dataset=Dataset(**ds), optimizer=Optimizer(**opt), schedule=Schedule(**sched), source=doc.file,
                  **top)

"""Training recipes: YAML -> validated, typed `Recipe` (no TensorFlow here).

A recipe says how to train (data, batch, epochs, optimizer, schedule,
precision, strategy); the architecture YAML says what is trained. Both are
checked the same way, and `--set key=value` overrides go into either
(`arch.` prefix for the architecture) before checking.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inception_keras.errors import ConfigError, Problem
from inception_keras.lang import catalog
from inception_keras.lang.checks import build, describe, parse_into, raise_if
from inception_keras.lang.kinds import INITIALIZERS
from inception_keras.lang.options import option, to_plain
from inception_keras.lang.overrides import load
from inception_keras.lang.reader import Document

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker_mirrored")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "cosine")
DATA_KINDS = ("auto", "tfds", "idx", "image_folder")
CROP_INTERPOLATIONS = ("bilinear", "random")
MAX_HUE = 0.5
MAX_SEED = 2 ** 32 - 1  # numpy's and TensorFlow's seeds are 32-bit
MAX_CPU_DEVICES = 64
MAX_EPOCHS = 1_000_000
MAX_POLICY_OPS = 10
MAX_LEVEL = 10


@dataclass(frozen=True, kw_only=True)
class Dataset:
    name: str = option("str", "tfds name (fashion_mnist, mnist, cifar10, imagenette, ...); names the classes")
    kind: str = option("choice", "auto: IDX files when found for (fashion_)mnist, image_folder when `path` has "
                                 "class folders, else tfds", "auto", choices=DATA_KINDS)
    path: str | None = option("str", "IDX directory, image folder, or tfds data_dir (--data-dir sets it)", None,
                              nullable=True)
    train_split: str = option("str", "tfds split to train on", "train")
    validation_split: str = option("str", "tfds split to validate on (the official test split for "
                                          "Fashion-MNIST)", "test")
    validation_fraction: float = option("rate", "image_folder without a val/ subtree: fraction held out for "
                                                "validation", 0.1)
    limit: int | None = option("pos_int", "keep N training and N validation examples (--limit): the first N of "
                                          "IDX and tfds sets; of an image folder, N drawn from every class in "
                                          "proportion to its size (at least one each), with `seed`", None,
                               nullable=True)
    classes: list | None = option("list", "image folders: the class folders to use ([cat, dog]), labelled in "
                                          "this order (as Keras' image_dataset_from_directory's class_names); "
                                          "null: every class folder, in sorted order", None, nullable=True)
    seed: int = option("nonneg_int", "image folders: the seed of the draws that pick images (--limit's per-class "
                                     "sample, the images `validation_fraction` holds out)", 0, maximum=MAX_SEED)
    resize: str = option("choice", "how images reach the input size: resize (bilinear, in float32), crop (center "
                                   "crop to a square, then resize), or opencv (bilinear as MXNet's Resize computes "
                                   "it: OpenCV's 8-bit fixed point, rounded to uint8; bit-exact with the d2l seed's "
                                   "input, docs/fidelity.md)", "resize", choices=("resize", "crop", "opencv"))
    crop_fraction: float = option("probability", "resize: crop keeps this central fraction of the shorter side "
                                                 "(torchvision's evaluation, resize 256 and crop 224: 0.875)", 1.0)
    shuffle_buffer: int = option("pos_int", "shuffle buffer for streamed data sets (in-memory ones are shuffled "
                                            "whole)", 10000)
    cache: bool = option("bool", "cache decoded, resized examples of streamed data sets in memory (image folders "
                                 "with `augment.crop`: the encoded files, decoded and cropped every epoch)", True)
    # Where `classes` is written (its Problem, message empty): the image folder names this place when a class is
    # not there. Not a YAML key.
    classes_at: Problem | None = field(default=None, compare=False)


@dataclass(frozen=True, kw_only=True)
class Optimizer:
    name: str = option("choice", "optimizer", "sgd", choices=OPTIMIZERS)
    learning_rate: float = option("pos_number", "initial learning rate (for the global batch)")
    momentum: float = option("rate", "momentum (sgd, rmsprop)", 0.0)
    nesterov: bool = option("bool", "Nesterov momentum (sgd)", False)
    weight_decay: float = option("nonneg_number", "decoupled weight decay (Keras' `weight_decay`)", 0.0)
    clipnorm: float | None = option("pos_number", "clip each gradient's norm", None, nullable=True)
    clipvalue: float | None = option("pos_number", "clip each gradient element to [-clipvalue, clipvalue] (not "
                                                   "with clipnorm)", None, nullable=True)
    ema: float | None = option("rate", "exponential moving average of the weights with this momentum (Keras' "
                                       "use_ema, ema_momentum; e.g. 0.99): validation, model.keras and best.keras "
                                       "use the averaged weights (the CSV's `val_on_ema` column is 1); null: off",
                               None, nullable=True)
    gradient_accumulation_steps: int = option("pos_int", "apply the summed-and-averaged gradients of this many "
                                                         "batches at once (Keras' gradient_accumulation_steps): a "
                                                         "batch k times larger in memory of one", 1)


@dataclass(frozen=True, kw_only=True)
class Schedule:
    name: str = option("choice", "constant; step: multiply by `factor` every `every_epochs`; cosine: cosine decay "
                                 "to `min_factor` x the initial rate over the run", "constant", choices=SCHEDULES)
    every_epochs: float = option("pos_number", "step: epochs between decays", 1)
    factor: float = option("pos_number", "step: multiplier at each decay (the paper: 0.96 every 8 epochs)", 0.96)
    warmup_epochs: float = option("nonneg_number", "linear warm-up from 0 (cosine)", 0)
    min_factor: float = option("rate", "cosine: final rate as a fraction of the initial one", 0.0)


@dataclass(frozen=True, kw_only=True)
class Phase:
    epoch: int = option("pos_int", "the first epoch (counted from 1, above 1) of this phase", maximum=MAX_EPOCHS)
    freeze: list = option("list", "stages, blocks or layers (names) frozen during this phase; [] trains them all",
                          ())
    learning_rate: float | None = option("pos_number", "the learning rate from this epoch on (the schedule scaled "
                                                       "by learning_rate / optimizer.learning_rate); null keeps "
                                                       "the rate", None, nullable=True)


@dataclass(frozen=True, kw_only=True)
class EarlyStopping:
    metric: str = option("str", "the metrics.csv column watched (val_loss, val_accuracy, ...)", "val_loss")
    patience: int = option("pos_int", "stop after this many epochs without improving on the best", 3)
    mode: str = option("choice", "min or max is better; auto: max for accuracies, min otherwise", "auto",
                       choices=("auto", "min", "max"))

    @property
    def higher_is_better(self) -> bool:
        return self.mode == "max" or (self.mode == "auto" and "accuracy" in self.metric)


@dataclass(frozen=True, kw_only=True)
class Crop:
    scale: tuple = option("range", "area of the crop as a fraction of the image's, drawn uniformly (the paper and "
                                   "torchvision: [0.08, 1])", (0.08, 1.0), maximum=1)
    ratio: tuple = option("range", "aspect ratio (width / height) of the crop, drawn log-uniformly (the paper and "
                                   "torchvision: [3/4, 4/3])", (3 / 4, 4 / 3))
    interpolation: str = option("choice", "how the crop is resized to the input: bilinear, or random: a method drawn "
                                          "per image (the paper; bilinear, area, nearest or bicubic where images are "
                                          "decoded one by one, bilinear or nearest on batches held in memory)",
                                "bilinear", choices=CROP_INTERPOLATIONS)


@dataclass(frozen=True, kw_only=True)
class Color:
    brightness: float = option("nonneg_number", "multiply by a factor drawn from [max(0, 1 - b), 1 + b] "
                                                "(torchvision's ColorJitter)", 0.0)
    contrast: float = option("nonneg_number", "blend with the image's mean grey by a factor drawn from "
                                              "[max(0, 1 - c), 1 + c]", 0.0)
    saturation: float = option("nonneg_number", "blend with the image's grey version by a factor drawn from "
                                                "[max(0, 1 - s), 1 + s] (3 channels)", 0.0)
    hue: float = option("rate", f"rotate the hue by a fraction of the colour circle drawn from [-h, h], h at most "
                                f"{MAX_HUE} (3 channels)", 0.0)
    lighting: float = option("nonneg_number", "AlexNet's PCA lighting noise: add ImageNet's RGB eigenvectors "
                                              "weighted by eigenvalue x N(0, lighting) (3 channels; AlexNet: 0.1)",
                             0.0)


@dataclass(frozen=True, kw_only=True)
class Erase:
    probability: float = option("probability", "share of images that get a box erased (torchvision's "
                                               "RandomErasing p)", 0.5)
    scale: tuple = option("range", "area of the box as a fraction of the image's, drawn uniformly", (0.02, 0.33),
                          maximum=1)
    ratio: tuple = option("range", "aspect ratio of the box, drawn log-uniformly (clipped to the image)", (0.3, 3.3))
    value: float = option("probability", "fill value on the [0, 1] pixel scale", 0.0)


@dataclass(frozen=True, kw_only=True)
class RandAugment:
    ops: int = option("pos_int", "N: operations applied to each image in turn, each drawn from the paper's list "
                                 "(the paper's ImageNet: 2)", 2, maximum=MAX_POLICY_OPS)
    magnitude: int = option("nonneg_int", "M: their strength on the paper's scale of 0 to 10 (the paper's "
                                          "ImageNet: 9)", 9, maximum=MAX_LEVEL)


@dataclass(frozen=True, kw_only=True)
class AugMix:
    width: int = option("pos_int", "k: chains of 1 to 3 operations mixed together (the paper: 3)", 3,
                        maximum=MAX_POLICY_OPS)
    severity: int = option("pos_int", "strength of each operation, drawn up to this on a scale of 1 to 10 (the "
                                      "paper: 3)", 3, maximum=MAX_LEVEL)
    alpha: float = option("pos_number", "chains weighted by Dirichlet(alpha), the mixture blended with the image "
                                        "by Beta(alpha, alpha) (the paper: 1)", 1.0)


@dataclass(frozen=True, kw_only=True)
class Augment:
    crop: Crop | None = option("mapping", "random resized crop, the Inception crop (below; `crop: {}` takes the "
                                          "defaults); null: off", None, nullable=True, nested=Crop)
    flip: bool = option("bool", "mirror left-right with probability 0.5", False)
    translate: float = option("rate", "shift by up to this fraction of the input's height and width, in whole "
                                      "pixels, the border filled with black (a padding crop: pad 4 px of 32 = "
                                      "0.125)", 0.0)
    color: Color | None = option("mapping", "photometric jitter, applied in this order (below); null: off", None,
                                 nullable=True, nested=Color)
    erase: Erase | None = option("mapping", "random erasing, after the rest (below); null: off", None,
                                 nullable=True, nested=Erase)
    randaugment: RandAugment | None = option("mapping", "RandAugment (below), after the transforms above; "
                                                        "null: off", None, nullable=True, nested=RandAugment)
    augmix: AugMix | None = option("mapping", "AugMix (below), after the transforms above (and RandAugment); "
                                              "null: off", None, nullable=True, nested=AugMix)
    mixup: float = option("nonneg_number", "MixUp: each batch blended with itself reversed, weight ~ Beta(a, a) "
                                           "for this a (timm: 0.8), labels blended alike; 0: off", 0.0)
    cutmix: float = option("nonneg_number", "CutMix: a box of the reversed batch pasted in, its side sqrt(1 - "
                                            "weight) of the image's, weight ~ Beta(a, a) (timm: 1.0), labels by the "
                                            "box's area; with mixup each batch takes one of them; 0: off", 0.0)

    @property
    def names(self) -> list[str]:
        """The augmentations that change images, as the log and `show` name them."""
        out = []
        if self.crop:
            out.append(f"crop {self.crop.scale[0]:g}-{self.crop.scale[1]:g} of the area")
        if self.flip:
            out.append("flip")
        if self.translate:
            out.append(f"translate {self.translate:g}")
        if self.color and any(getattr(self.color, k) for k in ("brightness", "contrast", "saturation", "hue",
                                                               "lighting")):
            out.append("color")
        if self.erase and self.erase.probability:
            out.append(f"erase p={self.erase.probability:g}")
        if self.randaugment:
            out.append(f"randaugment n={self.randaugment.ops} m={self.randaugment.magnitude}")
        if self.augmix:
            out.append(f"augmix k={self.augmix.width} severity={self.augmix.severity}")
        if self.mixup:
            out.append(f"mixup {self.mixup:g}")
        if self.cutmix:
            out.append(f"cutmix {self.cutmix:g}")
        return out

    @property
    def policies(self) -> bool:
        """RandAugment or AugMix: whole-image operations drawn per image (data.policies)."""
        return bool(self.randaugment or self.augmix)

    @property
    def mixes(self) -> bool:
        """MixUp or CutMix: labels become mixtures (one-hot, a categorical loss)."""
        return bool(self.mixup or self.cutmix)


@dataclass(frozen=True, kw_only=True)
class Recipe:
    name: str = option("name", "recipe name (used in run directory names)")
    dataset: Dataset = option("mapping", "what to train on (below)", nested=Dataset)
    epochs: int = option("pos_int", "epochs to train", maximum=MAX_EPOCHS)
    batch_size: int = option("pos_int", "global batch size: split across all replicas of all workers")
    partial_batch: str = option("choice", "the last, smaller batch of an epoch: mean (its loss is the mean over its "
                                          "examples, as every batch's) or divide_by_batch_size (its summed loss "
                                          "divided by batch_size, as d2l's trainer.step(batch_size): a smaller "
                                          "step; Keras' epoch loss and accuracy then weigh its examples by n / "
                                          "batch_size)", "mean", choices=("mean", "divide_by_batch_size"))
    optimizer: Optimizer = option("mapping", "optimizer (below)", nested=Optimizer)
    schedule: Schedule | None = option("mapping", "learning-rate schedule (below)", None, nullable=True,
                                       nested=Schedule)
    label_smoothing: float = option("rate", "label smoothing of the cross-entropy loss", 0.0)
    augment: Augment | None = option("mapping", "data augmentation of the training data only, drawn from `seed` "
                                                "(below); null: none", None, nullable=True, nested=Augment)
    initializer: str | None = option("choice", "kernel initializer for every layer (overrides the architecture's "
                                               "defaults.initializer; null keeps it)", None, choices=INITIALIZERS,
                                     nullable=True)
    precision: str = option("choice", "float32, mixed precision, or auto (bf16 on CPUs with AMX/AVX512-BF16, "
                                      "float16 on GPUs with tensor cores, else float32)", "float32",
                            choices=PRECISIONS)
    strategy: str = option("choice", "tf.distribute strategy; auto: multi_worker_mirrored when TF_CONFIG is set, "
                                     "mirrored over all GPUs when there are GPUs, else the default (one device)",
                           "auto", choices=STRATEGIES)
    cpu_devices: int = option("nonneg_int", "split the CPU into this many logical devices, so `mirrored` can run "
                                            "replicas without GPUs (tests); 0 leaves it whole", 0,
                              maximum=MAX_CPU_DEVICES)
    seed: int = option("nonneg_int", "random seed (initialization, shuffling, dropout)", 0, maximum=MAX_SEED)
    steps_per_execution: int = option("pos_int", "training steps per tf.function call", 1)
    jit_compile: Any = option("choice", "XLA: auto (on GPUs), true or false", "auto", choices=("auto", True, False))
    freeze: list = option("list", "stages, blocks or layers (names) frozen from the first epoch: their weights do "
                                  "not change and their BatchNorm runs in inference mode", ())
    phases: list = option("list", "changes at given epochs: [{epoch: 3, freeze: [], learning_rate: 0.001}] (the "
                                  "keys below); each phase's frozen names replace `freeze`", ())
    early_stopping: EarlyStopping | None = option("mapping", "stop when `metric` has not improved for `patience` "
                                                             "epochs (below); the best epoch's model is kept as "
                                                             "best.keras either way; null: off", None,
                                                  nullable=True, nested=EarlyStopping)
    top5: Any = option("choice", "top-5 accuracy as a metric (top5_accuracy); auto: where there are more than 10 "
                                 "classes", "auto", choices=("auto", True, False))
    average_last: int = option("nonneg_int", "average the weights of the last N epochs at the end (timm's "
                                             "checkpoint averaging), saved as averaged.keras beside model.keras "
                                             "and evaluated; 0: off", 0, maximum=MAX_EPOCHS)
    source: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        """The resolved recipe as plain data: every key, defaults filled (written to config.yaml)."""
        return to_plain(self)


def load_recipe(path: str, text: str | None = None, sets: list[tuple[str, Any]] | None = None) -> Recipe:
    """Read and check a recipe file (or a shipped one by name: `catalog.resolve`)."""
    path = path if text is not None else catalog.resolve(path, catalog.RECIPE)
    return parse_recipe(load(path, text, sets, what="recipe file"))


def parse_recipe(doc: Document) -> Recipe:
    problems: list = []
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), f"a recipe is a mapping with keys name, dataset, epochs, batch_size, "
                                            f"optimizer; got {describe(doc.data)}")])
    values = parse_into(doc, problems, Recipe, doc.data, (), "the recipe")
    raise_if(problems)
    ds = values["dataset"]
    if ds["kind"] == "image_folder" and not ds["path"]:
        problems.append(doc.problem(("dataset",), "kind image_folder needs `path`: the folder with one "
                                                  "subfolder per class (or train/ and val/ subtrees)"))
    if ds["kind"] == "idx" and ds["name"] not in ("fashion_mnist", "mnist") and not ds["path"]:
        problems.append(doc.problem(("dataset", "kind"), "kind idx needs `path` (a directory with the four IDX "
                                                         "files) unless the name is mnist or fashion_mnist"))
    _check_classes(doc, problems, ds)
    color = (values.get("augment") or {}).get("color")
    if color and color["hue"] > MAX_HUE:
        problems.append(doc.problem(("augment", "color", "hue"), f"expected a number in [0, {MAX_HUE}] (half the "
                                                                 f"colour circle), got {color['hue']:g}"))
    optimizer = values["optimizer"]
    if optimizer["clipnorm"] is not None and optimizer["clipvalue"] is not None:
        problems.append(doc.problem(("optimizer", "clipvalue"), "clip by norm or by value, not both (Keras "
                                                                "optimizers take one): drop clipnorm or clipvalue"))
    if ds["crop_fraction"] == 0:
        problems.append(doc.problem(("dataset", "crop_fraction"), "expected a number in (0, 1], got 0"))
    _check_phases(doc, problems, values)
    raise_if(problems)
    values["phases"] = [build(Phase, p) for p in values["phases"]]
    if values["schedule"] is None:
        values["schedule"] = {}
    return build(Recipe, values, source=doc.file)


def _check_classes(doc: Document, problems: list, ds: dict) -> None:
    """dataset.classes: folder names (no path), each once; records where it is written (`classes_at`)."""
    names = ds.get("classes")
    if names is None:
        return
    if not names:
        problems.append(doc.problem(("dataset", "classes"), "expected class folder names ([cat, dog]), got an "
                                                            "empty list (null: every class folder)"))
    seen = set()
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name or name.startswith(".") or "/" in name or "\\" in name:
            problems.append(doc.problem(("dataset", "classes", i), f"expected the name of a class folder (no path, "
                                                                   f"not hidden), got {describe(name)}"))
        elif name in seen:
            problems.append(doc.problem(("dataset", "classes", i), f"'{name}' is listed twice"))
        seen.add(name if isinstance(name, str) else None)
    ds["classes"] = tuple(names)
    ds["classes_at"] = doc.problem(("dataset", "classes"), "")


def _check_phases(doc: Document, problems: list, values: dict) -> None:
    """`freeze` names are strings; each phase a checked mapping, the phases in increasing epochs within the run."""
    for path, names in [(("freeze",), values.get("freeze"))] + [
            (("phases", i, "freeze"), p.get("freeze") if isinstance(p, dict) else None)
            for i, p in enumerate(values.get("phases") or ())]:
        if isinstance(names, (list, tuple)) and not all(isinstance(n, str) for n in names):  # not a list: parse_into
            problems.append(doc.problem(path, f"expected a list of stage, block or layer names, got {describe(names)}"))
    checked, last = [], 1
    for i, phase in enumerate(values.get("phases") or ()):
        out = parse_into(doc, problems, Phase, phase, ("phases", i), "a phase")
        if out is None or "epoch" not in out:  # a missing or bad epoch: parse_into has reported it
            continue
        if out["epoch"] <= last:
            problems.append(doc.problem(("phases", i, "epoch"), f"expected an epoch above {last} (phases start "
                                                                f"after epoch 1, in increasing order), got "
                                                                f"{out['epoch']}"))
        elif "epochs" in values and out["epoch"] > values["epochs"]:
            problems.append(doc.problem(("phases", i, "epoch"), f"the run has {values['epochs']} epochs; a phase "
                                                                f"starting at epoch {out['epoch']} never runs"))
        last = max(last, out["epoch"])
        checked.append(out)
    values["phases"] = checked

"""The flags of every command: argument types, the help formatter, and one function per command that declares its
flags on the command's parser (the command table in cli/app.py names them). Declarations only: no handler."""
from __future__ import annotations

import argparse

from inception_keras.engine.plan import RUNS_ROOT, RUNS_ROOT_ENV, default_runs_root
from inception_keras.lang.defaults import DEFAULT_ARCH, DEFAULT_RECIPE
from inception_keras.lang.recipe import PRECISIONS, STRATEGIES

# ----------------------------------------------------------------------------- argument types and help

ARCH_HELP = "the architecture file, or a shipped name (`inception-keras list`)"
RECIPE_HELP = "the recipe file, or a shipped name (`inception-keras list`)"


def shape(text: str) -> list[int]:
    """`224,224,3` (or `224x224x3`) -> [224, 224, 3]: an input size, three positive integers."""
    try:
        parts = [int(p) for p in text.replace("x", ",").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W,C (e.g. 224,224,3), got '{text}'") from None
    if len(parts) != 3 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"expected three positive integers H,W,C, got '{text}'")
    return parts


def positive(text: str) -> int:
    """An integer > 0 (batch sizes, counts, limits)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def point_index(text: str) -> int:
    """A sweep point's index: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a point index (an integer >= 0), got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a point index (an integer >= 0), got {value}")
    return value


class Formatter(argparse.HelpFormatter):
    """Every option's default at the end of its help, where it has one (not for flags and empty lists)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False, [], argparse.SUPPRESS) or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: {action.default})"


def weights_flag(p: argparse.ArgumentParser, what: str) -> None:
    """--weights PRESET|FILE|URL: pretrained weights by preset name ("imagenet"), upstream file or http(s) URL,
    downloaded once, checked, converted and cached (inception_keras.zoo)."""
    p.add_argument("--weights", metavar="PRESET|FILE|URL", help=f"{what}: a preset of the network (imagenet: its "
                   "default; `inception-keras list` shows them), an upstream weight file or an http(s) URL; "
                   "downloaded once, checked against the publisher's hash, converted and cached "
                   "($INCEPTION_KERAS_CACHE, $INCEPTION_KERAS_MIRROR)")


# ----------------------------------------------------------------------------- the commands' flags


def data_flags(p: argparse.ArgumentParser, strategy: bool = True) -> None:
    """--limit, --data-dir (and --strategy): flags that set recipe keys, as train, sweep and show take them."""
    p.add_argument("--limit", type=positive, metavar="N", help="keep N training and N validation examples: "
                   "the first N, or of an image folder N from every class in proportion (sets dataset.limit)")
    p.add_argument("--data-dir", metavar="DIR", help="IDX directory, image folder or tfds data_dir "
                   "(sets dataset.path)")
    if strategy:
        p.add_argument("--strategy", choices=STRATEGIES, help="tf.distribute strategy (sets strategy; default: "
                       "the recipe's)")


def summary_flags(p: argparse.ArgumentParser) -> None:
    """`summary`'s flags."""
    p.add_argument("arch", metavar="ARCH", help="the architecture: a file, or a shipped name (inception_v3; "
                   "`inception-keras list`)")
    p.add_argument("--input-shape", type=shape, metavar="H,W,C", help="override the file's input size")
    p.add_argument("--classes", type=positive, help="override the file's number of classes")
    p.add_argument("--blocks", action="store_true", help="one row per layer and Inception block")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the network as declared: stages, Inception blocks "
                   "with their four branches, kernels, channels and output shapes, auxiliary heads beside their "
                   "blocks")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any architecture key (dotted path), e.g. defaults.batch_norm=true")


def config_flags(p: argparse.ArgumentParser) -> None:
    """`config`'s flags: the files, --set and the data flags, as `train` takes them."""
    p.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml", help=ARCH_HELP)
    p.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help=RECIPE_HELP)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key or, with the prefix arch., an architecture key")
    data_flags(p)


def train_flags(p: argparse.ArgumentParser) -> None:
    """`train`'s flags."""
    p.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml", help=ARCH_HELP)
    p.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help=RECIPE_HELP)
    p.add_argument("--run-dir", metavar="DIR", help="the run directory (default: <runs root>/<arch>-<recipe>-"
                   "<timestamp>, or the newest unfinished run of the same configuration, which is resumed)")
    p.add_argument("--resume", metavar="DIR", help="continue this run with its own configuration; with --set "
                   "epochs=N, a finished or interrupted run is extended to N epochs")
    p.add_argument("--recover", action="store_true", help="with --resume: when the commit record "
                   "(backup/checkpoint.json) is lost or damaged, continue from the newest intact weights whose epochs "
                   "metrics.csv holds")
    p.add_argument("--init-from", metavar="RUN_OR_WEIGHTS", help="start a new run from the weights of another "
                   "run (its model.keras or last backup) or of a .weights.h5/.keras file (warm start, fine-tuning)")
    weights_flag(p, "start a new run from pretrained weights of --arch (warm start, fine-tuning; not with "
                 "--init-from)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (epochs=10, optimizer.learning_rate=0.05) or, with the prefix "
                        "arch., an architecture key (arch.classes=5); recorded in config.yaml")
    data_flags(p)
    p.add_argument("--runs-root", default=default_runs_root(), metavar="DIR",
                   help=f"where default run directories go (${RUNS_ROOT_ENV} sets it; otherwise {RUNS_ROOT})")


def sweep_flags(p: argparse.ArgumentParser) -> None:
    """`sweep`'s flags."""
    p.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml", help=ARCH_HELP)
    p.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help=RECIPE_HELP)
    p.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="an axis of the grid: values separated by top-level commas (arch.input=[64,64,1],[96,96,1] "
                        "is two values) or an integer range (seed=0..9, both ends included); read as YAML like "
                        "train's --set. One value: applies to every point. The last --set varies fastest")
    p.add_argument("--sweep-dir", metavar="DIR", help="where the points' run directories go (default: "
                   "<runs root>/sweep-<arch>-<recipe>-<keys>-<hash>, the same for the same command)")
    p.add_argument("--list", action="store_true", help="print the points, their status and run directories; "
                   "train nothing")
    p.add_argument("--index", type=point_index, metavar="I", help="train point I alone (default: "
                   "$JOB_COMPLETION_INDEX, which a Kubernetes Indexed Job gives each pod; without either, every "
                   "point in turn)")
    data_flags(p)
    p.add_argument("--runs-root", default=default_runs_root(), metavar="DIR",
                   help=f"where the default sweep directory goes (${RUNS_ROOT_ENV} sets it; otherwise {RUNS_ROOT})")
    p.add_argument("--metric", default="val_accuracy", help="the metric of the comparison printed at the end")
    p.add_argument("--format", choices=["table", "csv", "markdown"], default="table", help="how to print the table")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the groups' curves (as compare --plot)")


def search_flags(p: argparse.ArgumentParser) -> None:
    """`search`'s flags."""
    p.add_argument("space", metavar="SEARCH.yaml", help="the search space: trials, seeds, metric, keys and their "
                   "distributions (docs/search.md)")
    p.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml", help=ARCH_HELP)
    p.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help=RECIPE_HELP)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a key every trial gets, as train's --set (the file's `fixed:` keys follow these)")
    p.add_argument("--search-dir", metavar="DIR", help="the study and its trials' run directories (default: "
                   "<runs root>/search-<name of SEARCH.yaml>)")
    p.add_argument("--parallel", type=positive, metavar="N", help="seeds of a trial trained at once (default: all)")
    p.add_argument("--report", action="store_true", help="print the trials, best first, and the best trial's "
                   "--set flags; train nothing")
    p.add_argument("--plot", metavar="FILE.png", help="with --report: draw the optimization history (each "
                   "trial's mean with its seeds' spread) and the parameters' importances")
    p.add_argument("--format", choices=["table", "markdown"], default="table", help="how --report prints the table")
    p.add_argument("--mlflow", action="store_true", help="log each trial's runs to MLflow when the trial completes "
                   "(as `track`: $MLFLOW_TRACKING_URI, else <runs root>/mlruns)")
    data_flags(p)
    p.add_argument("--runs-root", default=default_runs_root(), metavar="DIR",
                   help=f"where the default search directory goes (${RUNS_ROOT_ENV} sets it; otherwise {RUNS_ROOT})")


def track_flags(p: argparse.ArgumentParser) -> None:
    """`track`'s flags."""
    p.add_argument("paths", nargs="+", metavar="RUN_OR_SEARCH_DIR", help="finished run directories, or search "
                   "directories (their trials' finished runs)")
    p.add_argument("--experiment", default="inception-keras", help="the MLflow experiment")
    p.add_argument("--runs-root", default=default_runs_root(), metavar="DIR",
                   help="the default MLflow store is <runs root>/mlruns ($MLFLOW_TRACKING_URI overrides it)")


def evaluate_flags(p: argparse.ArgumentParser) -> None:
    """`evaluate`'s flags."""
    p.add_argument("target", metavar="RUN_DIR_OR_MODEL", help="a run directory or a .keras file (with --weights: "
                   "the network, a name or an architecture file)")
    weights_flag(p, "evaluate the network TARGET names with these weights")
    p.add_argument("--recipe", metavar="RECIPE.yaml", help=f"the data for a bare model file (default: "
                   f"{DEFAULT_RECIPE}; a run directory uses its own)")
    p.add_argument("--data-dir", metavar="DIR", help="where the data is (sets dataset.path)")
    p.add_argument("--limit", type=positive, metavar="N", help="evaluate N examples only: the first N, or of "
                   "an image folder N from every class in proportion")
    p.add_argument("--batch", type=positive, default=256, help="images per batch")
    inference_flag(p)


def compare_flags(p: argparse.ArgumentParser) -> None:
    """`compare`'s flags."""
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories, globs (runs/*) or metrics.csv files")
    p.add_argument("--metric", default="val_accuracy", help="the metrics.csv column that ranks the runs (losses "
                   "and seconds: lower is better)")
    p.add_argument("--by-run", action="store_true", help="one row (and one curve) per run instead of per seed group")
    p.add_argument("--plot", metavar="FILE.png", help="draw loss and accuracy curves: each group's mean with a band "
                   "around its validation curve (each run's curve with --by-run)")
    p.add_argument("--band", choices=["minmax", "sd"], default="minmax",
                   help="the plot's band: the group's min..max or mean ± one standard deviation")
    p.add_argument("--format", choices=["table", "csv", "markdown"], default="table", help="how to print the table")


def bench_flags(p: argparse.ArgumentParser) -> None:
    """`bench`'s flags."""
    p.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml", help=ARCH_HELP)
    p.add_argument("--batch", type=positive, default=128, help="images per step")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help="float32 or mixed precision; auto: "
                   "bf16 on CPUs with AMX/AVX512-BF16, float16 on GPUs with tensor cores")
    p.add_argument("--data", choices=["synthetic", "real", "both"], default="synthetic",
                   help="random images in memory, the recipe's input pipeline, or both")
    p.add_argument("--steps", type=positive, default=10, help="steps per timed window")
    p.add_argument("--windows", type=positive, default=3, help="timed windows (the median is reported)")
    p.add_argument("--warmup", type=positive, default=3, help="untimed steps first")
    p.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help="the data for --data real")
    p.add_argument("--data-dir", metavar="DIR", help="where the data is (sets dataset.path)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (augment=null) or, with the prefix arch., an architecture key")
    p.add_argument("--jit", choices=["auto", "on", "off"], default="auto", help="XLA compilation (auto: on GPUs)")
    p.add_argument("--steps-per-execution", type=positive, default=1, help="training steps per tf.function call")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")


def import_weights_flags(p: argparse.ArgumentParser) -> None:
    """`import-weights`'s flags."""
    p.add_argument("source", choices=["torchvision", "timm", "keras", "slim"], help="whose weights: torchvision."
                   "models.googlenet's state dict (mapped by name); timm: a timm or torchvision Inception state dict "
                   "(inception_v4, inception_v3; mapped by structure: kinds and shapes in data-flow order); or a "
                   "keras.applications weight file (InceptionV3, InceptionResNetV2, Xception); slim: a TF-Slim "
                   "checkpoint (tf_slim.nets inception_v1/v2/v3; mapped by Slim's layer order and shapes)")
    p.add_argument("state_dict", metavar="FILE", nargs="?", help="torchvision, timm: .pth/.pt (needs PyTorch: "
                   "pip install "
                   "'inception-keras[torch]'), .safetensors or .npz (read without PyTorch); keras: the legacy .h5 "
                   "keras.applications downloads (with or without top) or a Keras 3 .weights.h5; slim: the "
                   "checkpoint's prefix (model.ckpt), its .index or its folder, read with TensorFlow's "
                   "checkpoint reader; or --weights instead")
    weights_flag(p, "instead of FILE")
    p.add_argument("--arch", required=True, metavar="ARCH.yaml", help="the network to build, e.g. "
                   "arch/googlenet_bn_imagenet.yaml (pretrained weights) or arch/googlenet_bn.yaml")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.weights.h5 or FILE.keras")
    p.add_argument("--input-shape", type=shape, metavar="H,W,C", help="build at this input size instead of the "
                   "YAML's (any size the architecture can be built at; the weights do not depend on it)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an architecture key, e.g. aux_heads=null (a state dict without aux heads)")
    p.add_argument("--flatten-order", choices=["auto", "channels_last", "channels_first"], default="auto",
                   help="how the Keras aux heads flatten before their first dense layer (auto: read off the "
                   "model)")


def inference_flag(p: argparse.ArgumentParser) -> None:
    """--precision: which inference form of the model runs (nn.inference)."""
    p.add_argument("--precision", choices=["float32", "bfloat16"], default="float32", help="the inference form: "
                   "BatchNorm folded into the layer before it, in float32 (equal to the trained model to float32 "
                   "round-off) or in bfloat16 (faster where the CPU/GPU has bfloat16; logits in float32)")


def predict_flags(p: argparse.ArgumentParser) -> None:
    """`predict`'s flags."""
    p.add_argument("target", metavar="MODEL_OR_RUN", help="a run directory or a .keras model file (with --weights: "
                   "the network, a name or an architecture file)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, GIF or BMP files")
    weights_flag(p, "classify with the network TARGET names holding these weights")
    p.add_argument("--top", type=positive, default=5, help="classes shown per image")
    p.add_argument("--labels", metavar="FILE.txt", help="class names, one per line, in class order")
    p.add_argument("--resize", choices=["resize", "crop", "opencv"], help="how images reach the input size "
                   "(the recipe's dataset.resize: default the run's, else resize; crop: centre square first)")
    inference_flag(p)


def export_flags(p: argparse.ArgumentParser) -> None:
    """`export`'s flags."""
    p.add_argument("target", metavar="MODEL_OR_RUN", help="a run directory or a .keras model file (with --weights: "
                   "the network, a name or an architecture file)")
    weights_flag(p, "export the network TARGET names holding these weights")
    p.add_argument("--format", required=True, choices=["saved_model", "tflite", "onnx"],
                   help="saved_model: a directory; tflite: a .tflite file; onnx: a .onnx file (needs "
                   "pip install 'inception-keras[onnx]')")
    p.add_argument("--out", required=True, metavar="PATH", help="where the artifact goes")
    p.add_argument("--no-check", action="store_true", help="skip loading the artifact back")
    inference_flag(p)


def show_flags(p: argparse.ArgumentParser) -> None:
    """`show`'s flags."""
    p.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml", help="the architecture file (its input size)")
    p.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help=RECIPE_HELP)
    p.add_argument("--out", required=True, metavar="FILE.png", help="the PNG to write")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (augment.flip=true, seed=3) or, with the prefix arch., an "
                        "architecture key")
    data_flags(p, strategy=False)
    p.add_argument("--rows", type=positive, default=4, help="rows of images")
    p.add_argument("--cols", type=positive, default=6, help="columns of images per view")


def list_flags(p: argparse.ArgumentParser) -> None:
    """`list`'s flags."""
    p.add_argument("--json", action="store_true", help="print JSON: networks (with each preset's url and hash) and "
                   "recipes")

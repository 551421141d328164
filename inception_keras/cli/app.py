"""The command line: parses arguments and calls the library. Bad input exits 2 without a traceback."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys

from inception_keras.errors import ConfigError, InceptionKerasError, raise_interrupted
from inception_keras.engine.plan import RUNS_ROOT, RUNS_ROOT_ENV, default_runs_root
from inception_keras.lang.defaults import DEFAULT_ARCH, DEFAULT_RECIPE
from inception_keras.lang.recipe import PRECISIONS, STRATEGIES
from inception_keras.engine.tf_runtime import prepare_tensorflow


def _shape(text: str) -> list[int]:
    try:
        parts = [int(p) for p in text.replace("x", ",").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W,C (e.g. 224,224,3), got '{text}'") from None
    if len(parts) != 3 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"expected three positive integers H,W,C, got '{text}'")
    return parts


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


class _Formatter(argparse.HelpFormatter):
    """Every option's default at the end of its help, where it has one (not for flags and empty lists)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False, [], argparse.SUPPRESS) or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: {action.default})"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inception-keras", formatter_class=_Formatter,
                                description="GoogLeNet (Inception v1) declared in YAML, built with Keras, trained "
                                            "with tf.distribute. `inception-keras COMMAND --help` describes a "
                                            "command.")
    from inception_keras.version import __version__

    p.add_argument("--version", action="version", version=f"inception-keras {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return p


def _command(sub, name: str, summary: str, description: str = ""):
    return sub.add_parser(name, help=summary, description=description or summary, formatter_class=_Formatter)


def _summary_parser(sub) -> None:
    s = _command(sub, "summary", "each stage's output shape, parameters and multiply-adds",
                 "Check an architecture file and print each stage's output shape (channels last), parameters and "
                 "multiply-adds, then the totals; auxiliary heads and any adaptation to the input size follow.")
    s.add_argument("arch", metavar="ARCH.yaml", help="the architecture file")
    s.add_argument("--input-shape", type=_shape, metavar="H,W,C", help="override the file's input size")
    s.add_argument("--classes", type=_positive, help="override the file's number of classes")
    s.add_argument("--blocks", action="store_true", help="one row per layer and Inception block")
    s.add_argument("--plot", metavar="FILE.png", help="also draw the network as declared: stages, Inception blocks "
                   "with their four branches, kernels, channels and output shapes, auxiliary heads beside their "
                   "blocks")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any architecture key (dotted path), e.g. defaults.batch_norm=true")


def _train_parser(sub) -> None:
    t = _command(sub, "train", "train and write a run directory",
                 "Train the architecture with the recipe and write a run directory: config.yaml, env.json, "
                 "metrics.csv (one row per epoch), state.json, backup/ and, at the end, model.keras. Running the "
                 "same command again resumes the newest unfinished run of the same configuration.")
    t.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml", help="the architecture file")
    t.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help="the recipe file")
    t.add_argument("--run-dir", metavar="DIR", help="the run directory (default: <runs root>/<arch>-<recipe>-"
                   "<timestamp>, or the newest unfinished run of the same configuration, which is resumed)")
    t.add_argument("--resume", metavar="DIR", help="continue this run with its own configuration; with --set "
                   "epochs=N, a finished or interrupted run is extended to N epochs")
    t.add_argument("--recover", action="store_true", help="with --resume: when the commit record "
                   "(backup/checkpoint.json) is lost or damaged, continue from the newest intact weights whose epochs "
                   "metrics.csv holds")
    t.add_argument("--init-from", metavar="RUN_OR_WEIGHTS", help="start a new run from the weights of another "
                   "run (its model.keras or last backup) or of a .weights.h5/.keras file (warm start, fine-tuning)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (epochs=10, optimizer.learning_rate=0.05) or, with the prefix "
                        "arch., an architecture key (arch.classes=5); recorded in config.yaml")
    _data_flags(t)
    t.add_argument("--runs-root", default=default_runs_root(), metavar="DIR",
                   help=f"where default run directories go (${RUNS_ROOT_ENV} sets it; otherwise {RUNS_ROOT})")


def _data_flags(p, strategy: bool = True) -> None:
    """--limit, --data-dir (and --strategy): flags that set recipe keys, as train, sweep and show take them."""
    p.add_argument("--limit", type=_positive, metavar="N", help="keep the first N training and N validation "
                   "examples (sets dataset.limit)")
    p.add_argument("--data-dir", metavar="DIR", help="IDX directory, image folder or tfds data_dir "
                   "(sets dataset.path)")
    if strategy:
        p.add_argument("--strategy", choices=STRATEGIES, help="tf.distribute strategy (sets strategy; default: "
                       "the recipe's)")


def _index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a point index (an integer >= 0), got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a point index (an integer >= 0), got {value}")
    return value


def _sweep_parser(sub) -> None:
    s = _command(sub, "sweep", "a grid of runs over --set values (seeds, learning "
                 "rates, ...), then their grouped comparison",
                 "Train every point of a grid, each an ordinary run "
                 "directory under one sweep directory, then print the comparison grouped by everything but "
                 "the seed. The same command again skips finished points and resumes an interrupted one. "
                 "See docs/sweeps.md.")
    s.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml", help="the architecture file")
    s.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help="the recipe file")
    s.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="an axis of the grid: values separated by top-level commas (arch.input=[64,64,1],[96,96,1] "
                        "is two values) or an integer range (seed=0..9, both ends included); read as YAML like "
                        "train's --set. One value: applies to every point. The last --set varies fastest")
    s.add_argument("--sweep-dir", metavar="DIR", help="where the points' run directories go (default: "
                   "<runs root>/sweep-<arch>-<recipe>-<keys>-<hash>, the same for the same command)")
    s.add_argument("--list", action="store_true", help="print the points, their status and run directories; "
                   "train nothing")
    s.add_argument("--index", type=_index, metavar="I", help="train point I alone (default: $JOB_COMPLETION_INDEX, "
                   "which a Kubernetes Indexed Job gives each pod; without either, every point in turn)")
    _data_flags(s)
    s.add_argument("--runs-root", default=default_runs_root(), metavar="DIR",
                   help=f"where the default sweep directory goes (${RUNS_ROOT_ENV} sets it; otherwise {RUNS_ROOT})")
    s.add_argument("--metric", default="val_accuracy", help="the metric of the comparison printed at the end")
    s.add_argument("--format", choices=["table", "csv", "markdown"], default="table", help="how to print the table")
    s.add_argument("--plot", metavar="FILE.png", help="also draw the groups' curves (as compare --plot)")


def _evaluate_parser(sub) -> None:
    e = _command(sub, "evaluate", "loss, accuracy and per-class accuracy on the validation (test) split",
                 "Evaluate a run (its model.keras, or its last backup while unfinished) or a model file on the "
                 "validation split of its data: the official test split for Fashion-MNIST.")
    e.add_argument("target", metavar="RUN_DIR_OR_MODEL", help="a run directory or a .keras file")
    e.add_argument("--recipe", metavar="RECIPE.yaml", help=f"the data for a bare model file (default: "
                   f"{DEFAULT_RECIPE}; a run directory uses its own)")
    e.add_argument("--data-dir", metavar="DIR", help="where the data is (sets dataset.path)")
    e.add_argument("--limit", type=_positive, metavar="N", help="evaluate the first N examples only")
    e.add_argument("--batch", type=_positive, default=256, help="images per batch")


def _compare_parser(sub) -> None:
    c = _command(sub, "compare", "compare runs from their CSV logs: runs that differ only in the seed as one "
                 "group (n, mean ± sd, min..max)",
                 "One row per seed group: runs whose configurations differ only in `seed` are one group, shown with "
                 "n and the mean ± standard deviation and min..max of --metric at the last common epoch and at the "
                 "epoch of the best mean, with the configuration keys that differ. --by-run: one row per run. "
                 "Broken or partial run directories are warnings, not errors. See docs/compare.md.")
    c.add_argument("runs", nargs="+", metavar="RUN", help="run directories, globs (runs/*) or metrics.csv files")
    c.add_argument("--metric", default="val_accuracy", help="the metrics.csv column that ranks the runs (losses "
                   "and seconds: lower is better)")
    c.add_argument("--by-run", action="store_true", help="one row (and one curve) per run instead of per seed group")
    c.add_argument("--plot", metavar="FILE.png", help="draw loss and accuracy curves: each group's mean with a band "
                   "around its validation curve (each run's curve with --by-run)")
    c.add_argument("--band", choices=["minmax", "sd"], default="minmax",
                   help="the plot's band: the group's min..max or mean ± one standard deviation")
    c.add_argument("--format", choices=["table", "csv", "markdown"], default="table", help="how to print the table")


def _bench_parser(sub) -> None:
    b = _command(sub, "bench", "training throughput (images/s) of an architecture",
                 "Time training steps: warm-up steps, then timed windows; the median window gives images/s and "
                 "ms per step (docs/performance.md).")
    b.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml", help="the architecture file")
    b.add_argument("--batch", type=_positive, default=128, help="images per step")
    b.add_argument("--precision", choices=PRECISIONS, default="auto", help="float32 or mixed precision; auto: "
                   "bf16 on CPUs with AMX/AVX512-BF16, float16 on GPUs with tensor cores")
    b.add_argument("--data", choices=["synthetic", "real", "both"], default="synthetic",
                   help="random images in memory, the recipe's input pipeline, or both")
    b.add_argument("--steps", type=_positive, default=10, help="steps per timed window")
    b.add_argument("--windows", type=_positive, default=3, help="timed windows (the median is reported)")
    b.add_argument("--warmup", type=_positive, default=3, help="untimed steps first")
    b.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help="the data for --data real")
    b.add_argument("--data-dir", metavar="DIR", help="where the data is (sets dataset.path)")
    b.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (augment=null) or, with the prefix arch., an architecture key")
    b.add_argument("--jit", choices=["auto", "on", "off"], default="auto", help="XLA compilation (auto: on GPUs)")
    b.add_argument("--steps-per-execution", type=_positive, default=1, help="training steps per tf.function call")
    b.add_argument("--json", metavar="FILE", help="also write the figures as JSON")


def _import_weights_parser(sub) -> None:
    i = _command(sub, "import-weights", "a torchvision GoogLeNet state dict -> Keras weights or model",
                 "Map a torchvision googlenet state dict onto the network an architecture YAML "
                 "declares and write .weights.h5 (every weight, aux heads included when declared) or .keras "
                 "(the inference model, for predict, evaluate and export). Every tensor is accounted for: a "
                 "missing, unused or mis-shaped key is an error naming it (exit 2); torchvision's aux heads "
                 "are skipped, and said so, when the architecture declares none. For torchvision's "
                 "pretrained weights use arch/googlenet_bn_imagenet.yaml (the input they expect); "
                 "docs/weights.md.")
    i.add_argument("source", choices=["torchvision"], help="whose state dict (torchvision.models.googlenet)")
    i.add_argument("state_dict", metavar="STATE_DICT", help=".pth/.pt (needs PyTorch: pip install "
                   "'inception-keras[torch]'), .safetensors or .npz (read without PyTorch)")
    i.add_argument("--arch", required=True, metavar="ARCH.yaml", help="the network to build, e.g. "
                   "arch/googlenet_bn_imagenet.yaml (pretrained weights) or arch/googlenet_bn.yaml")
    i.add_argument("--out", required=True, metavar="FILE", help="FILE.weights.h5 or FILE.keras")
    i.add_argument("--input-shape", type=_shape, metavar="H,W,C", help="build at this input size instead of the "
                   "YAML's (any size the architecture can be built at; the weights do not depend on it)")
    i.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an architecture key, e.g. aux_heads=null (a state dict without aux heads)")
    i.add_argument("--flatten-order", choices=["auto", "channels_last", "channels_first"], default="auto",
                   help="how the Keras aux heads flatten before their first dense layer (auto: read off the "
                   "model)")


def _predict_parser(sub) -> None:
    p = _command(sub, "predict", "class names and probabilities for image files",
                 "Classify PNG/JPEG (and GIF/BMP) files with a run's model or a .keras file: "
                 "each image is resized to the model's input and converted grey<->RGB as the training "
                 "pipeline does, fed as [0, 1] values (the model's own input layer applies its "
                 "architecture's `normalize`), and the top classes are printed with their softmax "
                 "probabilities. Class names: the run's data set (config.yaml), ImageNet's for 1000-class "
                 "models, or --labels.")
    p.add_argument("target", metavar="MODEL_OR_RUN", help="a run directory or a .keras model file")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, GIF or BMP files")
    p.add_argument("--top", type=_positive, default=5, help="classes shown per image")
    p.add_argument("--labels", metavar="FILE.txt", help="class names, one per line, in class order")
    p.add_argument("--resize", choices=["resize", "crop", "opencv"], help="how images reach the input size "
                   "(the recipe's dataset.resize: default the run's, else resize; crop: centre square first)")


def _export_parser(sub) -> None:
    e = _command(sub, "export", "the inference model as a TensorFlow SavedModel, TFLite or ONNX file",
                 "Export the inference model of a run (or a .keras file) for serving, then load "
                 "the artifact back with its own runtime (TensorFlow's SavedModel loader, the TFLite "
                 "interpreter, onnxruntime) and report how far its logits are from Keras' on random "
                 "images. The exported model takes [0, 1] images, NHWC float32, and returns logits.")
    e.add_argument("target", metavar="MODEL_OR_RUN", help="a run directory or a .keras model file")
    e.add_argument("--format", required=True, choices=["saved_model", "tflite", "onnx"],
                   help="saved_model: a directory; tflite: a .tflite file; onnx: a .onnx file (needs "
                   "pip install 'inception-keras[onnx]')")
    e.add_argument("--out", required=True, metavar="PATH", help="where the artifact goes")
    e.add_argument("--no-check", action="store_true", help="skip loading the artifact back")


def _show_parser(sub) -> None:
    s = _command(sub, "show", "draw training images as the model sees them (augmented) beside their validation "
                 "view", "Draw a grid of the first training images as the recipe's pipeline delivers them to the "
                 "model (augmented, from the recipe's seed) beside the same images' validation view, labelled with "
                 "their classes: check a recipe by looking (docs/augmentation.md).")
    s.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml", help="the architecture file (its input size)")
    s.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help="the recipe file")
    s.add_argument("--out", required=True, metavar="FILE.png", help="the PNG to write")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (augment.flip=true, seed=3) or, with the prefix arch., an "
                        "architecture key")
    _data_flags(s, strategy=False)
    s.add_argument("--rows", type=_positive, default=4, help="rows of images")
    s.add_argument("--cols", type=_positive, default=6, help="columns of images per view")


COMMANDS = (_summary_parser, _train_parser, _sweep_parser, _evaluate_parser, _compare_parser, _bench_parser,
            _show_parser, _import_weights_parser, _predict_parser, _export_parser)


def main(argv: list[str] | None = None) -> int:
    # First of all: as a container's PID 1 an unhandled SIGTERM would be ignored (docker stop would wait and kill).
    signal.signal(signal.SIGTERM, raise_interrupted)
    try:
        return _run(parser().parse_args(argv))
    except BrokenPipeError:  # `inception-keras summary ... | head -2`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except InceptionKerasError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", 2)
        return 128 + signum


def _run(args) -> int:
    return RUNNERS[args.command](args) or 0


def _summary(args) -> None:
    from inception_keras.lang.overrides import parse_sets
    from inception_keras.lang.parse import load_arch
    from inception_keras.lang.summary import render

    sets = parse_sets(args.set)  # every bad --set at once
    if args.input_shape:
        sets.append(("input", args.input_shape))
    if args.classes:
        sets.append(("classes", args.classes))
    spec = load_arch(args.arch, sets=sets)
    if args.plot and not str(args.plot).lower().endswith(".png"):
        raise ConfigError(f"--plot {args.plot}: the picture is a PNG; name a file ending in .png")
    print(render(spec, blocks=args.blocks))
    if args.plot:
        from inception_keras.lang.diagram import plot_network

        sys.stdout.flush()
        plot_network(spec, args.plot)
        print(f"picture: {args.plot}", file=sys.stderr)


def _train(args) -> None:
    from inception_keras.engine.plan import TrainOptions
    from inception_keras.engine.trainer import train

    # Nothing may touch TensorFlow before the strategy exists (multi-worker); silence its start-up only.
    prepare_tensorflow()
    train(TrainOptions(args.arch, args.recipe, run_dir=args.run_dir, resume=args.resume, sets=args.set,
                       limit=args.limit, data_dir=args.data_dir, strategy=args.strategy, runs_root=args.runs_root,
                       init_from=args.init_from, recover=args.recover))


def _sweep(args) -> int:
    from inception_keras.engine.sweep import main

    return main(args)


def _evaluate(args) -> None:
    prepare_tensorflow()
    from inception_keras.interop.evaluate import evaluate, render

    print(render(evaluate(args.target, recipe_path=args.recipe, data_dir=args.data_dir, limit=args.limit,
                          batch=args.batch)))


def _compare(args) -> int:
    from inception_keras.compare.core import main

    return main(args)


def _bench(args) -> int:
    prepare_tensorflow()
    from inception_keras.engine.bench import main

    return main(args)


def _import_weights(args) -> None:
    prepare_tensorflow()
    from inception_keras.lang.overrides import parse_sets
    from inception_keras.interop.weights import import_torchvision

    print(import_torchvision(args.state_dict, args.arch, args.out, input_shape=args.input_shape,
                             flatten_order=args.flatten_order, sets=parse_sets(args.set)))


def _predict(args) -> None:
    prepare_tensorflow()
    from inception_keras.interop.predict import predict, render

    print(render(predict(args.target, args.images, top=args.top, labels=args.labels, resize=args.resize)))


def _export(args) -> None:
    prepare_tensorflow()
    from inception_keras.interop.export import export

    print(export(args.target, args.format, args.out, check=not args.no_check))


def _show(args) -> int:
    prepare_tensorflow()
    from inception_keras.data.show import main

    return main(args)


RUNNERS = {"summary": _summary, "train": _train, "sweep": _sweep, "evaluate": _evaluate, "compare": _compare,
           "bench": _bench, "show": _show, "import-weights": _import_weights, "predict": _predict,
           "export": _export}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The command line: the command table, the parser made from it, and `main`, which runs a command and turns
errors into exit codes (bad input exits 2 without a traceback). Flags are declared in cli/parsers.py, the
handlers are cli/commands.py. Nothing imports cli."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

from inception_keras.cli import commands, outputs, parsers
from inception_keras.errors import ConfigError, InceptionKerasError, raise_interrupted


@dataclass(frozen=True)
class Command:
    """One command: its name, the one-line help that `inception-keras --help` lists, the description its own
    --help prints, the function that declares its flags (cli/parsers.py) and the handler that runs it
    (cli/commands.py; it returns the exit status, None for 0)."""

    name: str
    help: str
    description: str
    flags: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


# The one list of commands, in the order --help lists them.
COMMANDS = (
    Command("summary",
            "each stage's output shape, parameters and multiply-adds",
            "Check an architecture file and print each stage's output shape (channels last), parameters and "
            "multiply-adds, then the totals; auxiliary heads and any adaptation to the input size follow.",
            parsers.summary_flags, commands.run_summary),
    Command("config",
            "the resolved configuration a run of these files would write (config.yaml), without training",
            "Check the architecture and the recipe with their --set overrides and flags, and print the "
            "configuration that `train` would write to the run's config.yaml: every key of every layer and of "
            "the recipe, `extends` merged, defaults filled. Nothing is trained or written.",
            parsers.config_flags, commands.run_config),
    Command("train",
            "train and write a run directory",
            "Train the architecture with the recipe and write a run directory: config.yaml, env.json, "
            "metrics.csv (one row per epoch), state.json, backup/ and, at the end, model.keras. Running the "
            "same command again resumes the newest unfinished run of the same configuration.",
            parsers.train_flags, commands.run_train),
    Command("sweep",
            "a grid of runs over --set values (seeds, learning rates, ...), then their grouped comparison",
            "Train every point of a grid, each an ordinary run "
            "directory under one sweep directory, then print the comparison grouped by everything but "
            "the seed. The same command again skips finished points and resumes an interrupted one. "
            "See docs/sweeps.md.",
            parsers.sweep_flags, commands.run_sweep),
    Command("search",
            "an Optuna study over YAML keys whose trials are seed groups of runs; --report: the trials, best first",
            "Search the keys and distributions of SEARCH.yaml with Optuna: each trial trains one run per seed "
            "(ordinary run directories under the search directory) and scores the group's mean at the last "
            "epoch. The study lives in the search directory (a journal file): the same command again resumes it, "
            "and several processes or pods running it share it. See docs/search.md.",
            parsers.search_flags, commands.run_search),
    Command("track",
            "log finished runs (or a search's) to MLflow: params, metrics per epoch, the model",
            "Log finished run directories to MLflow (the optional `mlflow` extra): config.yaml's keys as params, "
            "every metrics.csv column per epoch, model.keras, config.yaml and metrics.csv as artifacts. A run "
            "logged already is not logged again. Store: $MLFLOW_TRACKING_URI, else <runs root>/mlruns.",
            parsers.track_flags, commands.run_track),
    Command("list",
            "the networks and recipes that ship, by name (usable wherever a file is)",
            "The shipped architectures (name, what each reproduces, input size, parameters, weight presets) and "
            "recipes. A name works wherever a command takes an architecture or recipe file, from any directory "
            "(a path that exists wins). --json: the same as JSON, each preset with its upstream url and hash.",
            parsers.list_flags, commands.run_list),
    Command("evaluate",
            "loss, accuracy and per-class accuracy on the validation (test) split",
            "Evaluate a run (its model.keras, or its last backup while unfinished) or a model file on the "
            "validation split of its data: the official test split for Fashion-MNIST.",
            parsers.evaluate_flags, commands.run_evaluate),
    Command("compare",
            "compare runs from their CSV logs: runs that differ only in the seed as one group (n, mean ± sd, "
            "min..max)",
            "One row per seed group: runs whose configurations differ only in `seed` are one group, shown with "
            "n and the mean ± standard deviation and min..max of --metric at the last common epoch and at the "
            "epoch of the best mean, with the configuration keys that differ. --by-run: one row per run. "
            "Broken or partial run directories are warnings, not errors. See docs/compare.md.",
            parsers.compare_flags, commands.run_compare),
    Command("bench",
            "training throughput (images/s) of an architecture",
            "Time training steps: warm-up steps, then timed windows; the median window gives images/s and "
            "ms per step (docs/performance.md).",
            parsers.bench_flags, commands.run_bench),
    Command("show",
            "draw training images as the model sees them (augmented) beside their validation view",
            "Draw a grid of the first training images as the recipe's pipeline delivers them to the "
            "model (augmented, from the recipe's seed) beside the same images' validation view, labelled with "
            "their classes: check a recipe by looking (docs/augmentation.md).",
            parsers.show_flags, commands.run_show),
    Command("import-weights",
            "torchvision, timm or keras.applications weights -> Keras weights or model",
            "Map a weight file onto the network an architecture YAML declares and write .weights.h5 "
            "(every weight, aux heads included when declared) or .keras (the inference model, for predict, "
            "evaluate and export). torchvision: a googlenet state dict, mapped by name. timm: a timm or "
            "torchvision Inception state dict (inception_v4 onto arch/inception_v4.yaml, torchvision's "
            "inception_v3 onto arch/inception_v3_torchvision.yaml), mapped by structure (kinds and shapes in "
            "data-flow order). keras: a keras.applications weight file. Every tensor is accounted for: a "
            "missing, unused or mis-shaped one is an error naming it (exit 2); aux heads are skipped, and "
            "said so, when the architecture declares none. For torchvision's pretrained googlenet use "
            "arch/googlenet_bn_imagenet.yaml (the input it expects); docs/weights.md.",
            parsers.import_weights_flags, commands.run_import_weights),
    Command("predict",
            "class names and probabilities for image files",
            "Classify PNG/JPEG (and GIF/BMP) files with a run's model or a .keras file: "
            "each image is resized to the model's input and converted grey<->RGB as the training "
            "pipeline does, fed as [0, 1] values (the model's own input layer applies its "
            "architecture's `normalize`), and the top classes are printed with their softmax "
            "probabilities. Class names: the run's data set (config.yaml), ImageNet's for 1000-class "
            "models, or --labels.",
            parsers.predict_flags, commands.run_predict),
    Command("export",
            "the inference model as a TensorFlow SavedModel, TFLite or ONNX file",
            "Export the inference model of a run (or a .keras file) for serving, then load "
            "the artifact back with its own runtime (TensorFlow's SavedModel loader, the TFLite "
            "interpreter, onnxruntime) and report how far its logits are from Keras' on random "
            "images. The exported model takes [0, 1] images, NHWC float32, and returns logits.",
            parsers.export_flags, commands.run_export),
)


def parser() -> argparse.ArgumentParser:
    """The whole command line's parser: every command of COMMANDS with its flags."""
    from inception_keras.version import DESCRIPTION, __version__

    p = argparse.ArgumentParser(prog="inception-keras", formatter_class=parsers.Formatter,
                                description=f"{DESCRIPTION}. `inception-keras COMMAND --help` describes a "
                                            "command.")
    p.add_argument("--version", action="version", version=f"inception-keras {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command_parser = sub.add_parser(command.name, help=command.help, description=command.description,
                                        formatter_class=parsers.Formatter)
        command.flags(command_parser)
        outputs.add_force(command_parser, command.name)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command `argv` (default: sys.argv) names; its exit status: 0, 1 (a run failed), 2 (bad input),
    128 + the signal's number when SIGINT or SIGTERM stopped it."""
    # First of all: as a container's PID 1 an unhandled SIGTERM would be ignored (docker stop would wait and kill).
    signal.signal(signal.SIGTERM, raise_interrupted)
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 is printed escaped, never a crash
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    try:
        args = parser().parse_args(argv)
        outputs.prepare(args)  # the output checked by the one rule before any work (cli/outputs.py)
        return _BY_NAME[args.command].run(args) or 0
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


_BY_NAME = {command.name: command for command in COMMANDS}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

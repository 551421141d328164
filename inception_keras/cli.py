"""The command line: parses arguments and calls the library. Bad input exits 2 without a traceback."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys

from .errors import ConfigError, InceptionKerasError, raise_interrupted
from .plan import DEFAULT_ARCH, DEFAULT_RECIPE, RUNS_ROOT, RUNS_ROOT_ENV, default_runs_root
from .recipe import PRECISIONS, STRATEGIES


def _prepare_tensorflow() -> None:
    """Settings that must precede TensorFlow's import, then the import itself, quietly.

    - oneDNN: TensorFlow enables its oneDNN CPU kernels by default only on CPUs with AVX512-VNNI/BF16 or
      AMX; elsewhere (this project's AVX2 machines) its own kernels train the seed network about 1.4x
      slower (docs/performance.md). Set TF_ENABLE_ONEDNN_OPTS=0 to keep TensorFlow's choice.
    - TensorFlow's C++ start-up chatter (CUDA probing on machines without GPUs) is not for users.
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    with contextlib.ExitStack() as stack:
        try:
            saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
        except OSError:
            saved = None
        if saved is not None:
            sys.stderr.flush()
            os.dup2(devnull, 2)
            os.close(devnull)

            def restore():
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)

            stack.callback(restore)
        import tensorflow  # noqa: F401


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inception-keras", description="GoogLeNet (Inception v1) declared in YAML, "
                                "built with Keras, trained with tf.distribute.")
    from . import __version__

    p.add_argument("--version", action="version", version=f"inception-keras {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_summary_parser, _train_parser, _evaluate_parser, _compare_parser, _bench_parser, _show_parser):
        add(sub)
    return p


def _summary_parser(sub) -> None:
    s = sub.add_parser("summary", help="each stage's output shape, parameters and multiply-adds")
    s.add_argument("arch", metavar="ARCH.yaml")
    s.add_argument("--input-shape", type=_shape, metavar="H,W,C", help="override the YAML's input size")
    s.add_argument("--classes", type=_positive, help="override the YAML's number of classes")
    s.add_argument("--blocks", action="store_true", help="one row per layer and Inception block")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any architecture key (dotted path), e.g. defaults.batch_norm=true")


def _train_parser(sub) -> None:
    t = sub.add_parser("train", help="train and write a run directory")
    t.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml", help=f"default: {DEFAULT_ARCH}")
    t.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help=f"default: {DEFAULT_RECIPE}")
    t.add_argument("--run-dir", metavar="DIR", help="default: runs/<arch>-<recipe>-<timestamp>, or the newest "
                   "unfinished run of the same configuration, which is resumed")
    t.add_argument("--resume", metavar="DIR", help="continue this run with its own configuration")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (epochs=10, optimizer.learning_rate=0.05) or, with the prefix "
                        "arch., an architecture key (arch.classes=5); recorded in config.yaml")
    t.add_argument("--limit", type=_positive, metavar="N", help="first N training and N validation examples")
    t.add_argument("--data-dir", metavar="DIR", help="IDX directory, image folder or tfds data_dir "
                   "(sets dataset.path)")
    t.add_argument("--strategy", choices=STRATEGIES)
    t.add_argument("--runs-root", default=default_runs_root(), metavar="DIR",
                   help=f"where default run directories go (default: ${RUNS_ROOT_ENV} or {RUNS_ROOT})")


def _evaluate_parser(sub) -> None:
    e = sub.add_parser("evaluate", help="loss, accuracy and per-class accuracy on the validation (test) split")
    e.add_argument("target", metavar="RUN_DIR_OR_MODEL")
    e.add_argument("--recipe", metavar="RECIPE.yaml", help="data for a bare model file (default: "
                   f"{DEFAULT_RECIPE})")
    e.add_argument("--data-dir", metavar="DIR")
    e.add_argument("--limit", type=_positive, metavar="N")
    e.add_argument("--batch", type=_positive, default=256)


def _compare_parser(sub) -> None:
    c = sub.add_parser("compare", help="compare runs from their CSV logs")
    c.add_argument("runs", nargs="+", metavar="RUN", help="run directories, globs (runs/*) or metrics.csv files")
    c.add_argument("--metric", default="val_accuracy")
    c.add_argument("--plot", metavar="FILE.png", help="draw loss and accuracy curves of every run")
    c.add_argument("--format", choices=["table", "csv", "markdown"], default="table")


def _bench_parser(sub) -> None:
    b = sub.add_parser("bench", help="training throughput (images/s) of an architecture")
    b.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml")
    b.add_argument("--batch", type=_positive, default=128)
    b.add_argument("--precision", choices=PRECISIONS, default="auto")
    b.add_argument("--data", choices=["synthetic", "real", "both"], default="synthetic")
    b.add_argument("--steps", type=_positive, default=10, help="steps per timed window")
    b.add_argument("--windows", type=_positive, default=3, help="timed windows (the median is reported)")
    b.add_argument("--warmup", type=_positive, default=3, help="untimed steps first")
    b.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help="data for --data real")
    b.add_argument("--data-dir", metavar="DIR")
    b.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (augment=null) or, with the prefix arch., an architecture key")
    b.add_argument("--jit", choices=["auto", "on", "off"], default="auto")
    b.add_argument("--steps-per-execution", type=_positive, default=1)
    b.add_argument("--json", metavar="FILE", help="also write the figures as JSON")


def _show_parser(sub) -> None:
    s = sub.add_parser("show", help="draw training images as the model sees them (augmented) beside their "
                                    "validation view")
    s.add_argument("--arch", default=DEFAULT_ARCH, metavar="ARCH.yaml", help=f"default: {DEFAULT_ARCH}")
    s.add_argument("--recipe", default=DEFAULT_RECIPE, metavar="RECIPE.yaml", help=f"default: {DEFAULT_RECIPE}")
    s.add_argument("--out", required=True, metavar="FILE.png")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (augment.flip=true, seed=3) or, with the prefix arch., an "
                        "architecture key")
    s.add_argument("--limit", type=_positive, metavar="N", help="first N training and N validation examples")
    s.add_argument("--data-dir", metavar="DIR", help="IDX directory, image folder or tfds data_dir "
                   "(sets dataset.path)")
    s.add_argument("--rows", type=_positive, default=4)
    s.add_argument("--cols", type=_positive, default=6)


def main(argv: list[str] | None = None) -> int:
    # First of all: as a container's PID 1 an unhandled SIGTERM would be ignored (docker stop would wait and kill).
    signal.signal(signal.SIGTERM, raise_interrupted)
    try:
        return _run(parser().parse_args(argv))
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
    if args.command == "summary":
        from .overrides import parse_sets
        from .spec import load_arch
        from .summary import render

        sets = parse_sets(args.set)  # every bad --set at once
        if args.input_shape:
            sets.append(("input", args.input_shape))
        if args.classes:
            sets.append(("classes", args.classes))
        print(render(load_arch(args.arch, sets=sets), blocks=args.blocks))
        return 0
    if args.command == "train":
        from .plan import TrainOptions
        from .train import train

        # Nothing may touch TensorFlow before the strategy exists (multi-worker); silence its start-up only.
        _prepare_tensorflow()
        train(TrainOptions(args.arch, args.recipe, run_dir=args.run_dir, resume=args.resume, sets=args.set,
                           limit=args.limit, data_dir=args.data_dir, strategy=args.strategy,
                           runs_root=args.runs_root))
        return 0
    if args.command == "evaluate":
        _prepare_tensorflow()
        from .evaluate import evaluate, render

        print(render(evaluate(args.target, recipe_path=args.recipe, data_dir=args.data_dir, limit=args.limit,
                              batch=args.batch)))
        return 0
    if args.command == "compare":
        from .compare import main as compare_main

        return compare_main(args)
    if args.command == "bench":
        _prepare_tensorflow()
        from .bench import main as bench_main

        return bench_main(args)
    if args.command == "show":
        _prepare_tensorflow()
        from .show import main as show_main

        return show_main(args)
    raise AssertionError(args.command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

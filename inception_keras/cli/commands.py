"""The commands' handlers: each takes the parsed arguments, calls the library with typed arguments and prints what
it returns. The library below never sees an argparse Namespace. TensorFlow is prepared (tf_runtime) before the
first command that needs it imports it; `summary`, `compare` and the grid of `sweep` start without it."""
from __future__ import annotations

import argparse
import os
import sys

from inception_keras.engine.tf_runtime import prepare_tensorflow
from inception_keras.errors import ConfigError


def run_summary(args: argparse.Namespace) -> None:
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


def run_train(args: argparse.Namespace) -> None:
    from inception_keras.engine.plan import TrainOptions
    from inception_keras.engine.trainer import train

    # Nothing may touch TensorFlow before the strategy exists (multi-worker); silence its start-up only.
    prepare_tensorflow()
    train(TrainOptions(args.arch, args.recipe, run_dir=args.run_dir, resume=args.resume, sets=args.set,
                       limit=args.limit, data_dir=args.data_dir, strategy=args.strategy, runs_root=args.runs_root,
                       init_from=args.init_from, recover=args.recover))


def run_sweep(args: argparse.Namespace) -> int:
    """The grid checked, then --list, one point (--index or $JOB_COMPLETION_INDEX) or every point in child
    processes; after a whole sweep, the comparison of its points. Exit 1 when a point did not finish."""
    from inception_keras.engine.plan import TrainOptions
    from inception_keras.experiments.grid import make_sweep
    from inception_keras.experiments.sweep import INDEX_ENV, index_from_env, list_text, run_index, run_sweep

    options = TrainOptions(args.arch, args.recipe, limit=args.limit, data_dir=args.data_dir, strategy=args.strategy,
                           runs_root=args.runs_root)
    if args.plot and not str(args.plot).lower().endswith(".png"):
        raise ConfigError(f"--plot {args.plot}: the plot is a PNG; name a file ending in .png")
    sweep = make_sweep(args.set, options, args.sweep_dir)
    if args.list:
        print(list_text(sweep))
        return 0
    index = args.index if args.index is not None else index_from_env()
    if index is not None:
        run_index(sweep, index, "--index" if args.index is not None else INDEX_ENV)
        return 0
    problems = run_sweep(sweep)
    _compare_points(sweep, args.metric, args.format, args.plot)
    if problems:
        print(f"error: {len(problems)} of {len(sweep.points)} sweep points did not finish:", file=sys.stderr)
        for i, text in problems.items():
            print(f"  point {i} ({sweep.points[i].label}): {text}", file=sys.stderr)
        print("run the same command again to resume them", file=sys.stderr)
        return 1
    return 0


def run_search(args: argparse.Namespace) -> int:
    """A worker of the study (train trials until it has them all), or with --report its table and picture."""
    from inception_keras.engine.plan import TrainOptions
    from inception_keras.experiments.search import make_search, run_worker

    if args.plot and not str(args.plot).lower().endswith(".png"):
        raise ConfigError(f"--plot {args.plot}: the plot is a PNG; name a file ending in .png")
    options = TrainOptions(args.arch, args.recipe, sets=args.set, limit=args.limit, data_dir=args.data_dir,
                           strategy=args.strategy, runs_root=args.runs_root)
    search = make_search(args.space, options, args.search_dir)
    if args.report:
        from inception_keras.experiments.report import report

        print(report(search, args.format, args.plot))
        return 0
    run_worker(search, parallel=args.parallel, mlflow=args.mlflow)
    from inception_keras.experiments.report import report

    print(report(search, args.format, args.plot))
    return 0


def run_track(args: argparse.Namespace) -> int:
    """Log finished runs (or a search directory's) to MLflow."""
    from inception_keras.experiments.tracking import log_paths

    for run_dir, rid in log_paths(args.paths, args.runs_root, args.experiment):
        print(f"logged {run_dir}: MLflow run {rid}")
    return 0


def _compare_points(sweep, metric: str, form: str, plot: str | None) -> None:
    """The comparison of the sweep's points that have epochs, grouped by everything but the seed (as `compare`
    prints it); the engine that ran them never imports compare."""
    from inception_keras.compare import group_table, load_runs, plot_groups, render
    from inception_keras.experiments.sweep import trained_dirs

    done = trained_dirs(sweep)
    if not done:
        return
    run_list = load_runs(done, lambda file, message: print(f"warning: {file}: {message}", file=sys.stderr))
    if run_list and not any(metric in r.columns for r in run_list):
        print(f"warning: --metric {metric}: no point records it; no comparison (inception-keras compare "
              f"'{os.path.join(sweep.directory, '*')}' --metric ...)", file=sys.stderr)
    elif run_list:
        df = group_table(run_list, metric)
        print(f"\nsweep {sweep.directory}: {len(run_list)} of {len(sweep.points)} points have epochs; "
              f"grouped by everything but the seed:")
        print(render(df, metric, form), flush=True)
        if plot:
            by_path = {r.path: r for r in run_list}
            plot_groups([[by_path[p] for p in paths] for paths in df["paths"]], list(df["group"]), plot)
            print(f"plot: {plot}", file=sys.stderr)


def run_evaluate(args: argparse.Namespace) -> None:
    prepare_tensorflow()
    from inception_keras.serve.evaluate import evaluate, render

    print(render(evaluate(args.target, recipe_path=args.recipe, data_dir=args.data_dir, limit=args.limit,
                          batch=args.batch)))


def run_compare(args: argparse.Namespace) -> int:
    from inception_keras.compare import report

    return report(args.runs, metric=args.metric, fmt=args.format, plot=args.plot, by_run=args.by_run, band=args.band)


def run_bench(args: argparse.Namespace) -> int:
    prepare_tensorflow()
    from inception_keras.engine.bench import render, run, write_json

    out = run(args.arch, args.recipe, args.batch, args.precision, args.data, args.steps, args.windows, args.warmup,
              jit=args.jit, steps_per_execution=args.steps_per_execution, data_dir=args.data_dir, sets=args.set)
    print(render(out))
    if args.json:
        write_json(out, args.json)
    return 0


def run_import_weights(args: argparse.Namespace) -> None:
    prepare_tensorflow()
    from inception_keras.lang.overrides import parse_sets
    from inception_keras.weights.torchvision import import_torchvision

    if args.source == "timm":
        from inception_keras.weights.structural import import_structural

        print(import_structural(args.state_dict, args.arch, args.out, input_shape=args.input_shape,
                                sets=parse_sets(args.set)))
        return
    if args.source == "keras":
        from inception_keras.weights.keras_apps import import_keras

        sets = parse_sets(args.set) + ([("input", list(args.input_shape))] if args.input_shape else [])
        print(import_keras(args.state_dict, args.arch, args.out, sets=sets))
        return
    print(import_torchvision(args.state_dict, args.arch, args.out, input_shape=args.input_shape,
                             flatten_order=args.flatten_order, sets=parse_sets(args.set)))


def run_predict(args: argparse.Namespace) -> None:
    prepare_tensorflow()
    from inception_keras.serve.predict import predict, render

    print(render(predict(args.target, args.images, top=args.top, labels=args.labels, resize=args.resize)))


def run_export(args: argparse.Namespace) -> None:
    prepare_tensorflow()
    from inception_keras.serve.export import export

    print(export(args.target, args.format, args.out, check=not args.no_check))


def run_config(args: argparse.Namespace) -> int:
    """No TensorFlow: the files are checked and resolved as `train` resolves them, then printed."""
    from inception_keras.engine.plan import resolve
    from inception_keras.runs.config import dump_config

    _, _, config = resolve(args.arch, args.recipe, args.set, args.limit, args.data_dir, args.strategy)
    print(dump_config(config), end="")
    return 0


def run_show(args: argparse.Namespace) -> int:
    prepare_tensorflow()
    from inception_keras.data.show import check_out, report, show
    from inception_keras.engine.plan import resolve

    check_out(args.out)
    spec, recipe, _ = resolve(args.arch, args.recipe, args.set, args.limit, args.data_dir)
    print(report(show(spec, recipe, args.out, rows=args.rows, cols=args.cols)))
    return 0


def run_list(args: argparse.Namespace) -> None:
    from inception_keras.zoo.listing import as_json, as_text

    print(as_json() if args.json else as_text())

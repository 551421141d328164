"""The commands' handlers: each takes the parsed arguments, calls the library with typed arguments and prints what
it returns. The library below never sees an argparse Namespace. TensorFlow is prepared (tf_runtime) before the
first command that needs it imports it; `summary`, `compare` and the grid of `sweep` start without it."""
from __future__ import annotations

import argparse
import sys

from inception_keras import safeio
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
    init_from = args.init_from
    if args.weights:
        if args.init_from:
            raise ConfigError("--weights and --init-from both say where the run starts: give one")
        from inception_keras.zoo.cache import resolve_weights

        init_from = resolve_weights(args.arch, args.weights)  # downloaded, checked, converted once; then cached
    train(TrainOptions(args.arch, args.recipe, run_dir=args.run_dir, resume=args.resume, sets=args.set,
                       limit=args.limit, data_dir=args.data_dir, strategy=args.strategy, runs_root=args.runs_root,
                       init_from=init_from, recover=args.recover))


def _target(args: argparse.Namespace) -> str:
    """The model file a serving command loads: TARGET, or with --weights the network TARGET names holding them
    (a cached .keras, converted once)."""
    if not args.weights:
        return args.target
    from inception_keras.zoo.cache import model_file

    return model_file(args.target, args.weights)


def run_sweep(args: argparse.Namespace) -> int:
    """The grid checked, then --list, one point (--index or $JOB_COMPLETION_INDEX) or every point in child
    processes; after a whole sweep, the comparison of its points. Exit 1 when a point did not finish."""
    from inception_keras.engine.plan import TrainOptions
    from inception_keras.experiments.grid import make_sweep
    from inception_keras.experiments.sweep import INDEX_ENV, index_from_env, list_text, run_index, run_sweep

    options = TrainOptions(args.arch, args.recipe, limit=args.limit, data_dir=args.data_dir, strategy=args.strategy,
                           runs_root=args.runs_root)
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

    def warn(file, message):
        print(f"warning: {file}: {message}", file=sys.stderr)

    for run_dir, rid in log_paths(args.paths, args.runs_root, args.experiment, warn):
        print(f"logged {safeio.shown(run_dir)}: MLflow run {rid}")
    return 0


def _compare_points(sweep, metric: str, form: str, plot: str | None) -> None:
    """The sweep's points compared (experiments.points), printed, and plotted with --plot."""
    from inception_keras.experiments.points import compare_points
    from inception_keras.experiments.sweep import trained_dirs

    table = compare_points(sweep, trained_dirs(sweep), metric, form,
                           lambda file, message: print(f"warning: {file}: {message}", file=sys.stderr))
    if table is not None:
        print(table.text, flush=True)
        if plot:
            table.plot(plot)
            print(f"plot: {plot}", file=sys.stderr)


def run_evaluate(args: argparse.Namespace) -> None:
    prepare_tensorflow()
    from inception_keras.serve.evaluate import evaluate, render

    print(render(evaluate(_target(args), recipe_path=args.recipe, data_dir=args.data_dir, limit=args.limit,
                          batch=args.batch, precision=args.precision)))


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

    if (args.state_dict is None) == (args.weights is None):
        raise ConfigError("import-weights: give the weight FILE or --weights PRESET|FILE|URL (one of them)")
    if args.weights:
        print(_import_preset(args, parse_sets(args.set)))
        return
    if args.source == "timm":
        from inception_keras.weights.structural import import_structural

        print(import_structural(args.state_dict, args.arch, args.out, input_shape=args.input_shape,
                                sets=parse_sets(args.set)))
        return
    if args.source == "slim":
        from inception_keras.weights.slim import import_slim

        print(import_slim(args.state_dict, args.arch, args.out, input_shape=args.input_shape,
                          sets=parse_sets(args.set)))
        return
    if args.source == "keras":
        from inception_keras.weights.keras_apps import import_keras

        sets = parse_sets(args.set) + ([("input", list(args.input_shape))] if args.input_shape else [])
        print(import_keras(args.state_dict, args.arch, args.out, sets=sets))
        return
    print(import_torchvision(args.state_dict, args.arch, args.out, input_shape=args.input_shape,
                             flatten_order=args.flatten_order, sets=parse_sets(args.set)))


def _import_preset(args: argparse.Namespace, sets: list) -> str:
    """import-weights --weights: the cached converted weights of --arch, built with --set/--input-shape, to --out."""
    from inception_keras.weights.imported import check_output, write_model
    from inception_keras.zoo.cache import build_with_weights
    from inception_keras.zoo.presets import find_preset

    out = check_output(args.out)
    preset = find_preset(args.arch, args.weights)
    source = {"keras": "keras", "torchvision": "torchvision", "timm": "timm"}.get(preset.importer) if preset else None
    if source and source != args.source:
        raise ConfigError(f"--weights {args.weights}: a {preset.publisher} file, read by `import-weights {source}` "
                          f"(not {args.source})")
    sets = sets + ([("input", list(args.input_shape))] if args.input_shape else [])
    models = build_with_weights(args.arch, args.weights, sets)
    write_model(out, models.inference, models.train)
    return f"wrote {out}: {args.arch} with the weights '{args.weights}'"


def run_predict(args: argparse.Namespace) -> None:
    prepare_tensorflow()
    from inception_keras.serve.predict import predict, render

    print(render(predict(_target(args), args.images, top=args.top, labels=args.labels, resize=args.resize,
                         precision=args.precision)))


def run_export(args: argparse.Namespace) -> None:
    prepare_tensorflow()
    from inception_keras.serve.export import export

    print(export(_target(args), args.format, args.out, check=not args.no_check, precision=args.precision))


def run_config(args: argparse.Namespace) -> int:
    """No TensorFlow: the files are checked and resolved as `train` resolves them, then printed."""
    from inception_keras.lang.resolve import resolve
    from inception_keras.runs.config import dump_config

    _, _, config = resolve(args.arch, args.recipe, args.set, args.limit, args.data_dir, args.strategy)
    print(dump_config(config), end="")
    return 0


def run_show(args: argparse.Namespace) -> int:
    prepare_tensorflow()
    from inception_keras.data.show import report, show
    from inception_keras.lang.resolve import resolve

    spec, recipe, _ = resolve(args.arch, args.recipe, args.set, args.limit, args.data_dir)
    print(report(show(spec, recipe, args.out, rows=args.rows, cols=args.cols)))
    return 0


def run_list(args: argparse.Namespace) -> None:
    from inception_keras.zoo.listing import as_json, as_text

    print(as_json() if args.json else as_text())

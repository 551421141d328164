"""The comparison as a PNG: loss and accuracy against epoch, one curve per seed group (or per run)."""
from __future__ import annotations

from inception_keras import writing
from inception_keras.compare.group import group_names, seed_groups
from inception_keras.compare.read import Run, Warn, load_runs
from inception_keras.errors import ConfigError

BANDS = ("minmax", "sd")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
PANELS = ("loss", "accuracy")


def plot_runs(runs_or_paths, path: str, on_warning: Warn | None = None, by_run: bool = False,
              band: str = "minmax") -> str:
    """One PNG: loss (left) and accuracy (right) against epoch, training dashed, validation solid.

    By default one curve per seed group (see compare_runs): the mean over its runs, with a band around the
    validation curve (`band`: "minmax", the runs' min..max, or "sd", mean ± one standard deviation); with
    `by_run`, one curve per run. Each curve has its own colour and marker, and the curves are dodged by a
    fraction of an epoch, so that equal curves stay visible. runs_or_paths: `Run`s from load_runs, or paths
    as for compare_runs."""
    writing.check(path, writing.PNG)  # before anything is computed
    run_list = list(runs_or_paths)
    if run_list and not isinstance(run_list[0], Run):
        run_list = load_runs(run_list, on_warning)
    if not run_list:
        raise ConfigError("no run to plot")
    groups = [[r] for r in run_list] if by_run else seed_groups(run_list)
    return plot_groups(groups, group_names(groups), path, band=band, by_run=by_run)


def plot_groups(groups: list[list[Run]], names: list[str], path: str, band: str = "minmax",
                by_run: bool = False) -> str:
    """Draw `groups` (lists of runs, one curve each) named `names` into the PNG `path` (see plot_runs)."""
    fig = curves_figure(groups, names, band, by_run)
    with writing.output(path, writing.PNG) as tmp:
        fig.savefig(tmp, format="png")
    return writing.path_of(path)


def _curve(group: list[Run], column: str):
    """(epochs, mean, sd, min, max) of a column over the runs of a group that reached each epoch."""
    import pandas as pd

    cols = {i: r.history.set_index("epoch")[column] for i, r in enumerate(group) if column in r.history}
    if not cols:
        return None
    frame = pd.DataFrame(cols).sort_index().dropna(how="all")
    if frame.empty:
        return None
    return (frame.index.to_numpy(dtype=float), frame.mean(axis=1).to_numpy(), frame.std(axis=1, ddof=1).to_numpy(),
            frame.min(axis=1).to_numpy(), frame.max(axis=1).to_numpy())


def _draw_group(axes, g: list[Run], colour, marker: str, dodge: float, band: str) -> bool:
    """A group's curves on the two axes (training dashed, validation solid, with a band over its runs when
    it has several); True when a band was drawn."""
    import numpy as np

    banded = False
    for ax, key in zip(axes, PANELS):
        for prefix, style in (("", "--"), ("val_", "-")):
            curve = _curve(g, prefix + key)
            if curve is None:
                continue
            x, mean, sd, lo, hi = curve
            x = x + dodge
            ax.plot(x, mean, linestyle=style, color=colour, marker=marker, markersize=4, linewidth=1.6,
                    markerfacecolor="none" if prefix else colour)
            if prefix and len(g) > 1:
                if band == "sd":
                    lo, hi = mean - np.nan_to_num(sd), mean + np.nan_to_num(sd)
                ax.fill_between(x, lo, hi, color=colour, alpha=0.18, linewidth=0)
                banded = True
    return banded


def _legend(handles: list, by_run: bool, band: str, banded: bool) -> list:
    """The curves' handles and those that say what the line styles (and the band) mean."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    mean_word = "" if by_run else " (mean)"
    handles = handles + [Line2D([], [], color="black", linestyle="--", label=f"training{mean_word}"),
                         Line2D([], [], color="black", linestyle="-", marker="o", markerfacecolor="none",
                                label=f"validation{mean_word}")]
    if banded:
        what = "min..max" if band == "minmax" else "mean ± 1 sd"
        handles.append(Patch(color="grey", alpha=0.3, label=f"band: validation {what}\nover a group's runs"))
    return handles


def _title(groups: list[list[Run]], by_run: bool) -> str:
    k, n_runs = len(groups), sum(len(g) for g in groups)
    if by_run:
        return f"{n_runs} run{'s' if n_runs != 1 else ''}, one curve each"
    return (f"{k} group{'s' if k != 1 else ''} of {n_runs} run{'s' if n_runs != 1 else ''} (runs that differ "
            f"only in the seed are one group): the mean of each group")


def curves_figure(groups: list[list[Run]], names: list[str], band: str = "minmax", by_run: bool = False):
    """The matplotlib Figure of plot_groups (not saved)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    if band not in BANDS:
        raise ConfigError(f"--band {band}: use {' or '.join(BANDS)}")
    fig = Figure(figsize=(12, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    k = len(groups)
    step = min(0.06, 0.3 / (k - 1)) if k > 1 else 0.0
    handles, banded = [], False
    for i, (g, name, colour) in enumerate(zip(groups, names, run_colours(k))):
        marker = MARKERS[i % len(MARKERS)]
        banded = _draw_group(axes, g, colour, marker, (i - (k - 1) / 2) * step, band) or banded
        label = name if by_run or len(g) == 1 else f"{name} (n={len(g)})"
        handles.append(Line2D([], [], color=colour, marker=marker, linewidth=2.5, label=label))
    spread = f"; curves dodged by up to ±{step * (k - 1) / 2:.2g} epoch" if k > 1 else ""
    for ax, key in zip(axes, PANELS):
        ax.set_xlabel(f"epoch{spread}")
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[1].legend(handles=_legend(handles, by_run, band, banded), loc="center left", bbox_to_anchor=(1.02, 0.5),
                   fontsize="small", frameon=False)
    fig.suptitle(_title(groups, by_run))
    return fig


def run_colours(n: int) -> list:
    """One colour per run: matplotlib's tab10, then tab20, then evenly spaced hues."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["hsv"](i / n) for i in range(n)]

"""`search --report`: a study's trials as a table (mean ± sd over seeds, best first), the best trial's `--set`
flags, and a picture (the optimization history with each trial's seeds and spread, the parameters'
importances). Reads the study and the trials' metrics.csv; trains nothing, needs no TensorFlow.
"""
from __future__ import annotations

import os

from inception_keras import writing
from inception_keras.errors import ConfigError
from inception_keras.experiments.grid import value_text
from inception_keras.experiments.trial import group_values


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else value_text(v)


def trial_rows(search, study) -> list[dict]:
    """One dict per trial that is not a reclaimed (re-queued) one: number, state, mean, sd, n, params, dir;
    complete trials best first, then pruned, running and failed ones by number."""
    retried = {t.user_attrs.get("retry_of") for t in study.trials}
    rows = []
    for t in study.trials:
        if t.number in retried:
            continue
        rows.append({"number": t.number, "state": t.state.name.lower(), "mean": t.value,
                     "sd": t.user_attrs.get("sd"), "n": t.user_attrs.get("n"), "params": dict(t.params),
                     "dir": t.user_attrs.get("dir"), "epoch": t.user_attrs.get("epoch"),
                     "pruned_at": max(t.intermediate_values, default=None)})
    sign = -1 if search.space.direction == "maximize" else 1
    done = sorted((r for r in rows if r["state"] == "complete"), key=lambda r: (sign * r["mean"], r["number"]))
    return done + sorted((r for r in rows if r["state"] != "complete"), key=lambda r: r["number"])


def best_sets(search, row: dict) -> list[str]:
    """The flags that train the best trial's configuration: the data flags the search was given, the fixed
    keys and the trial's values as --sets."""
    o = search.options
    flags = [f"{flag} {value}" for flag, value in (("--limit", o.limit), ("--data-dir", o.data_dir),
                                                   ("--strategy", o.strategy)) if value is not None]
    return flags + [f"--set {k}" for k in o.sets] + [f"--set {k}={value_text(v)}" for k, v in row["params"].items()]


def table_text(search, rows: list[dict], style: str = "table") -> str:
    keys = [d.key for d in search.space.dimensions]
    metric = search.space.metric
    header = ["trial", "state", f"{metric} mean ± sd", "n"] + keys + ["runs"]
    cells = []
    for r in rows:
        stat = "" if r["mean"] is None else f"{r['mean']:.4f}" + (f" ± {r['sd']:.4f}" if r["sd"] is not None else "")
        if r["state"] == "pruned" and r["mean"] is not None:
            stat = f"{r['mean']:.4f} at epoch {r['pruned_at']}"
        cells.append([str(r["number"]), r["state"], stat, str(r["n"] or "")]
                     + [_fmt(r["params"][k]) if k in r["params"] else "" for k in keys]
                     + [os.path.join(search.directory, r["dir"]) if r["dir"] else ""])
    if style == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells])
    widths = [max(len(x) for x in col) for col in zip(header, *cells)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header] + cells)


def report(search, style: str = "table", plot: str | None = None) -> str:
    """The table, the best trial and its flags; with `plot`, the picture written there."""
    from inception_keras.experiments.search import open_study

    study = open_study(search, create=False)
    rows = trial_rows(search, study)
    complete = [r for r in rows if r["state"] == "complete"]
    pruned = sum(r["state"] == "pruned" for r in rows)
    lines = [f"search {search.directory}: {len(complete)} of {search.space.trials} trials complete, {pruned} pruned, "
             f"{len(search.space.seeds)} seeds each, {search.space.direction} {search.space.metric} "
             f"(the seeds' mean at the last epoch)", table_text(search, rows, style)]
    if complete:
        best = complete[0]
        flags = " ".join(best_sets(search, best))
        lines += ["", f"best: trial {best['number']}, {search.space.metric} {best['mean']:.4f}"
                      + (f" ± {best['sd']:.4f}" if best["sd"] is not None else "") + f" (n={best['n']})",
                  f"train it: inception-keras train --arch {search.options.arch} --recipe {search.options.recipe} "
                  + flags]
    if plot:
        if len(complete) < 1:
            raise ConfigError("--plot: no complete trial to draw yet")
        draw(search, study, rows, plot)
        lines.append(f"wrote {plot}")
    return "\n".join(lines)


def _importances(study) -> dict:
    """Optuna's parameter importances (fANOVA), {} when too few trials or one parameter value."""
    import optuna

    try:
        return optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):
        return {}


def draw(search, study, rows: list[dict], path: str) -> None:
    """Left: each complete trial's seeds (dots), mean and ± sd (bar) by trial number, with the best so far;
    right: the parameters' importances."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = search.space.metric
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    done = sorted((r for r in rows if r["state"] == "complete"), key=lambda r: r["number"])
    for r in done:
        seeds = [search.run_dir(r["dir"], s) for s in search.space.seeds]
        values = group_values(seeds, metric).get(r["epoch"], [])
        ax.scatter([r["number"]] * len(values), values, s=12, color="0.6", zorder=2)
        ax.errorbar(r["number"], r["mean"], yerr=r["sd"] or 0, fmt="o", color="C0", capsize=3, zorder=3)
    best, line = None, []
    for r in done:
        better = best is None or (r["mean"] > best if search.space.direction == "maximize" else r["mean"] < best)
        best = r["mean"] if better else best
        line.append(best)
    ax.step([r["number"] for r in done], line, where="post", color="C3", label="best mean so far")
    pruned = [r["number"] for r in rows if r["state"] == "pruned"]
    for i, n in enumerate(pruned):
        ax.axvline(n, color="0.85", lw=4, zorder=1, label="pruned" if i == 0 else None)
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{metric} at the last epoch")
    ax.set_title(f"{len(done)} trials x {len(search.space.seeds)} seeds: mean ± sd (grey: seeds)")
    ax.legend(loc="best")
    imp = _importances(study)
    if imp:
        names = list(imp)[::-1]
        bx.barh(names, [imp[n] for n in names], color="C2")
        bx.set_title("parameter importance (fANOVA)")
    else:
        bx.text(0.5, 0.5, "importances need more\ncomplete trials", ha="center", va="center")
        bx.set_axis_off()
    fig.tight_layout()
    with writing.output(path, writing.PNG) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

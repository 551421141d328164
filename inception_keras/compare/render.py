"""The comparison's DataFrame as text: an aligned table, CSV, or a GitHub markdown table."""
from __future__ import annotations

import math

from inception_keras.compare.group import FINAL, GROUP_COLUMNS, MEAN, STATS, SUMMARY_COLUMNS
from inception_keras.errors import ConfigError

_TRUNCATE = 40  # characters of a configuration value in the aligned text table


def _number_format(column: str):
    base = column[len("best_"):] if column.startswith("best_") else column
    if base in ("epoch_seconds", "images_per_second"):
        return lambda v: f"{v:.1f}"
    if base == "learning_rate":
        return lambda v: f"{v:.4g}"
    return lambda v: f"{v:.4f}"


def _is_missing(v) -> bool:
    if v is None:
        return False
    try:
        import pandas as pd

        return bool(pd.isna(v)) if not isinstance(v, (list, dict, tuple)) else False
    except (TypeError, ValueError):
        return False


def _config_text(v) -> str:
    import yaml

    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, dict, tuple)):
        return yaml.safe_dump(v, default_flow_style=True, width=math.inf).strip()
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return f"{v:.1f}"
    return str(v)


def rows_for(df, metric: str, style: str) -> tuple[list[str], list[list[str]], list[bool]]:
    """Header, cell texts and right-alignment flags of the table in `style` (table, markdown or csv): the
    groups of `group_table` or the runs of `table`, whichever `df` holds."""
    if "group" in df.columns:
        return _group_rows_for(df, metric, style)
    best_col = f"best_{metric}"
    summary = ["run", "arch", "epochs", best_col, "best_epoch", *FINAL, *MEAN, "params", "status"]
    if style == "csv":
        summary = ["run", "arch", "epochs_done", "epochs_planned", *summary[3:]]
    keys = [c for c in df.columns if c not in SUMMARY_COLUMNS and c not in ("path", best_col)]
    header = summary + keys
    blank = "" if style == "csv" else "-"
    cells = []
    for _, row in df.iterrows():
        out = []
        for c in header:
            if c == "epochs":
                out.append(_epochs_text(row))
            elif c in keys:
                out.append(_key_cell(row[c], style, blank))
            else:
                out.append(_value_cell(c, row[c], style, blank))
        cells.append(out)
    return header, cells, _right(header, cells, ("run", "arch", "status"))


def _epochs_text(row) -> str:
    planned = row["epochs_planned"]
    done = row["epochs_done"]
    return f"{'-' if _is_missing(done) else int(done)}/{'?' if _is_missing(planned) else int(planned)}"


def _key_cell(v, style: str, blank: str) -> str:
    """A configuration value: YAML flow text (cut at 40 characters in the text table), CSV numbers in full."""
    if _is_missing(v):
        return blank
    if style == "csv":
        return _config_text(v) if not isinstance(v, float) else f"{v:.10g}"
    text = _config_text(v)
    if style == "table" and len(text) > _TRUNCATE:
        text = text[:_TRUNCATE - 3] + "..."
    return text


def _value_cell(c: str, v, style: str, blank: str) -> str:
    if _is_missing(v):
        return blank
    if c in ("epochs_done", "epochs_planned", "best_epoch", "n"):
        return str(int(v))
    if c == "params":
        return str(int(v)) if style == "csv" else f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:.6g}" if style == "csv" else _number_format(c)(v)
    return str(v)


def _right(header: list[str], cells: list[list[str]], left: tuple) -> list[bool]:
    right = []
    for j, c in enumerate(header):
        col = [row[j] for row in cells if row[j] not in ("", "-")]
        right.append(c not in left and bool(col) and all(_looks_numeric(t) for t in col))
    return right


def seeds_text(seeds) -> str:
    """[0, 1, 2, 3, 7] -> '0..3,7': runs of three or more consecutive seeds as ranges."""
    if not isinstance(seeds, (list, tuple)):
        return "-"
    out, i = [], 0
    values = [s for s in seeds if s is not None]
    values = sorted(set(values)) + (["?"] if len(values) < len(seeds) else [])
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j] != "?" and values[j + 1] == values[j] + 1:
            j += 1
        out.append(f"{values[i]}..{values[j]}" if j - i >= 2 else ",".join(map(str, values[i:j + 1])))
        i = j + 1
    return ",".join(out)


def _group_header(df, metric: str, style: str) -> tuple[list[str], list[str], dict]:
    """The groups' table's header, its configuration keys, and {column index: (prefix, "mean" or "range")} of
    the text table's statistics cells (none in CSV, where each statistic has a column)."""
    keys = [c for c in df.columns if c not in GROUP_COLUMNS and not c.startswith((f"{metric}_", f"best_{metric}_"))]
    if style == "csv":
        header = ["group", "arch", "n", "seeds", "epochs_done", "epochs_planned", *[f"{metric}_{k}" for k in STATS],
                  "best_epoch", *[f"best_{metric}_{k}" for k in STATS], *MEAN, "params", "status", "runs", *keys]
        return header, keys, {}
    header = ["group", "arch", "n", "seeds", "epochs", metric, "min..max", "best_epoch", f"best_{metric}",
              "min..max", *MEAN, "params", "status", *keys]
    stat_of = {}
    for prefix in ("", "best_"):
        i = header.index(f"{prefix}{metric}")
        stat_of[i], stat_of[i + 1] = (prefix, "mean"), (prefix, "range")
    return header, keys, stat_of


def _stat_cell(row, metric: str, prefix: str, what: str, blank: str) -> str:
    """`mean ± sd` (what="mean") or `min..max` (what="range", only for two runs or more) of a group."""
    fmt = _number_format(metric)
    mean, sd, lo, hi = (row[f"{prefix}{metric}_{k}"] for k in STATS)
    if what == "range":
        return blank if _is_missing(lo) or row["n"] < 2 else f"{fmt(lo)}..{fmt(hi)}"
    return blank if _is_missing(mean) else fmt(mean) if _is_missing(sd) else f"{fmt(mean)} ± {fmt(sd)}"


def _group_rows_for(df, metric: str, style: str) -> tuple[list[str], list[list[str]], list[bool]]:
    """The groups' table: `mean ± sd` and `min..max` cells in text and markdown, one number a cell in CSV."""
    header, keys, stat_of = _group_header(df, metric, style)
    blank = "" if style == "csv" else "-"
    cells = []
    for _, row in df.iterrows():
        out = []
        for j, c in enumerate(header):
            if j in stat_of:
                out.append(_stat_cell(row, metric, *stat_of[j], blank))
            elif c == "epochs":
                out.append(_epochs_text(row))
            elif c == "seeds":
                out.append(_key_cell(row[c], style, blank) if style == "csv" else seeds_text(row[c]))
            elif c == "runs":
                out.append(_config_text(row[c]))
            elif c in keys:
                out.append(_key_cell(row[c], style, blank))
            else:
                out.append(_value_cell(c, row[c], style, blank))
        cells.append(out)
    right = _right(header, cells, ("group", "arch", "status", "seeds", "runs"))
    return header, cells, [r or j in stat_of for j, r in enumerate(right)]


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace(",", "").replace("/", ""))
        return True
    except ValueError:
        return False


def _markdown(header: list[str], cells: list[list[str]], right: list[bool]) -> str:
    def esc(t):
        return t.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |",
             "|" + "|".join("---:" if r else ":---" for r in right) + "|"]
    lines += ["| " + " | ".join(esc(t) for t in row) + " |" for row in cells]
    return "\n".join(lines)


def _aligned(header: list[str], cells: list[list[str]], right: list[bool]) -> str:
    widths = [max(len(t) for t in [h] + [row[j] for row in cells]) for j, h in enumerate(header)]

    def line(texts):
        return "  ".join(t.rjust(w) if r else t.ljust(w) for t, w, r in zip(texts, widths, right)).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(row) for row in cells])


def render(df, metric: str = "val_accuracy", style: str = "table") -> str:
    """The DataFrame of compare_runs as an aligned text table, CSV or a GitHub markdown table."""
    import pandas as pd

    header, cells, right = rows_for(df, metric, style)
    if style == "csv":
        text = pd.DataFrame(cells, columns=header, dtype=object).to_csv(index=False, lineterminator="\n")
        return text.rstrip("\n")
    if style == "markdown":
        return _markdown(header, cells, right)
    if style != "table":
        raise ConfigError(f"unknown format '{style}': use table, csv or markdown")
    return _aligned(header, cells, right)

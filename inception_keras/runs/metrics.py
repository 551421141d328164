"""metrics.csv: written from the trainer's rows, and read back by one tolerant reader.

The trainer writes one row per committed epoch, named columns (`COLUMNS` first, then any other metric), floats
to 6 significant digits. `read_metrics` is the one reader of the file (the comparison of runs, and `train
--resume --recover`, which rebuilds a commit record from it): real files are messy, so a cut-off line is
ignored, a resumed run's repeated epoch keeps its last row, a cell that is not a number is empty, and every
such problem is passed to `warn(file, message)` naming the line.
"""
from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable

from inception_keras import safeio
from inception_keras.errors import ConfigError
from inception_keras.runs.files import METRICS, atomic_write

COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_seconds",
           "images_per_second"]

Warn = Callable[[str, str], None]


def metrics_csv(history: list[dict]) -> str:
    """The trainer's rows as metrics.csv's text: `COLUMNS`, then the other keys in order of appearance."""
    extra = []
    for row in history:
        extra += [k for k in row if k not in COLUMNS and k not in extra]
    columns = COLUMNS + extra
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: _fmt(row.get(k)) for k in columns})
    return buf.getvalue()


def _fmt(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def write_metrics(run_dir: str, history: list[dict]) -> None:
    """metrics.csv rewritten whole from the rows of every epoch done (atomically)."""
    atomic_write(os.path.join(run_dir, METRICS), metrics_csv(history))


def metric_lines(path: str) -> int:
    """How many lines after the header hold anything: evidence that epochs were done, even in a file that
    cannot be read as a CSV (0 when the file cannot be opened)."""
    try:
        with safeio.open_binary(path, "metrics file", safeio.LIMITS["csv"]) as f:
            return max(0, sum(1 for line in f if line.strip()) - 1)
    except (OSError, ConfigError):
        return 0


def _ignore(file: str, message: str) -> None:
    """A `warn` that hears nothing."""


def read_metrics(path: str, warn: Warn | None = None):
    """metrics.csv -> a DataFrame of floats with an int `epoch` column (one row per epoch, sorted), or None when
    the file holds no readable epoch; every problem is passed to `warn(path, message)`.

    pandas reads the cells (`read_csv`, as text), converts them (`to_numeric`) and keeps the last row of a
    repeated epoch (`drop_duplicates`); what it would pass over silently (a cut-off line, extra fields, a cell
    that is not a number) becomes a warning naming the line.
    """
    warn = warn or _ignore
    text = _read_text(path, warn)
    if text is None:
        return None
    layout = _layout(path, text, warn)
    if layout is None:
        return None
    header, widths = layout
    cells = _cells(text, header, widths)
    numbers = _numbers(path, cells, warn)
    repeated = sorted(set(numbers["epoch"][numbers["epoch"].duplicated()].astype(int)))
    if repeated:
        warn(path, f"epoch{'s' if len(repeated) > 1 else ''} {', '.join(map(str, repeated))} repeated (a resumed "
                   "run?); the last row of each is kept")
    frame = numbers.drop_duplicates("epoch", keep="last").sort_values("epoch", kind="stable")
    if frame.empty:
        warn(path, "no epochs recorded; skipped")
        return None
    frame = frame.astype("float64").reset_index(drop=True)
    frame["epoch"] = frame["epoch"].astype(int)
    return frame


def _read_text(path: str, warn: Warn) -> str | None:
    """The file's text, or None with a warning (not UTF-8, cannot be read, empty)."""
    try:
        raw = safeio.read_bytes(path, "metrics file", safeio.LIMITS["csv"])
    except ConfigError as e:
        warn(path, f"cannot read: {e.problems[0].message}; skipped")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        warn(path, "not a text file (not UTF-8); skipped")
        return None
    if not text.strip():
        warn(path, "empty file; skipped")
        return None
    return text


def _layout(path: str, text: str, warn: Warn) -> tuple[list[str], dict[int, int]] | None:
    """(the header's names, {line number: fields} of every line after it that holds a value), with a warning
    for a repeated column and for a line with fewer or more fields than the header; None when the file is not
    a metrics CSV."""
    lines = text.splitlines()
    try:
        header = [h.strip() for h in next(csv.reader(lines[:1]))]
        widths = {i: len(row) for i, row in enumerate(csv.reader(lines), start=1) if i > 1 and "".join(row).strip()}
    except csv.Error as e:
        warn(path, f"not a CSV file ({e}); skipped")
        return None
    if "epoch" not in header:
        warn(path, "not a metrics CSV (no 'epoch' column in the first line); skipped")
        return None
    for name in [h for i, h in enumerate(header) if h and h in header[:i]]:
        warn(path, f"column '{name}' appears twice; the first is used")
    n = len(header)
    for lineno, width in widths.items():
        if width < n:
            cut = lineno == len(lines) and not text.endswith(("\n", "\r"))
            warn(path, f"line {lineno} has {width} of {n} fields{' (the file is cut off)' if cut else ''}; the line "
                       "is ignored")
        elif width > n:
            warn(path, f"line {lineno} has {width} fields, the header {n}; the extra ones are ignored")
    return header, widths


def _cells(text: str, header: list[str], widths: dict[int, int]):
    """The cells as stripped text, indexed by line number: the lines with every field (extra fields cut), the
    first of a repeated column, no column without a name."""
    import pandas as pd

    n = len(header)
    cells = pd.read_csv(io.StringIO(text), header=None, skiprows=1, names=range(n), dtype=str,
                        keep_default_na=False, engine="python", on_bad_lines=lambda fields: fields[:n])
    cells.index = list(widths)  # one row per line with a value, in order
    cells = cells.loc[[lineno for lineno, width in widths.items() if width >= n]]
    keep = [i for i, name in enumerate(header) if name and name not in header[:i]]
    return cells[keep].set_axis([header[i] for i in keep], axis=1).apply(lambda c: c.str.strip())


def _numbers(path: str, cells, warn: Warn):
    """The cells as numbers (NaN where empty or not a number, with one warning listing the latter), without
    the lines whose epoch is not a whole number >= 0 (a warning each)."""
    import pandas as pd

    numbers = cells.apply(pd.to_numeric, errors="coerce")
    bad = [f"{col}='{cells.at[line, col]}' (line {line})" for line in cells.index for col in cells.columns
           if col != "epoch" and pd.isna(numbers.at[line, col]) and cells.at[line, col] != ""]
    epochs = numbers["epoch"]
    valid = epochs.notna() & (epochs >= 0) & (epochs == epochs.round())
    for line in epochs.index[~valid]:
        warn(path, f"line {line}: epoch '{cells.at[line, 'epoch']}' is not an epoch number; the line is ignored")
    if bad:
        warn(path, f"not a number, read as empty: {', '.join(bad)}")
    return numbers[valid]


def read_metric_rows(path: str) -> list[dict]:
    """metrics.csv (read by `read_metrics`, silently) as the trainer's rows: `epoch` an int, the other cells
    floats, None where empty; [] when the file holds no readable epoch."""
    frame = read_metrics(path)
    if frame is None:
        return []
    rows = []
    for record in frame.to_dict("records"):
        row = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}
        row["epoch"] = int(row["epoch"])
        rows.append(row)
    return rows

"""The files a command writes, checked before it does any work: never over an existing file unless `--force`
says so, never into a run directory (only its own trainer writes there), and (for what is written after a long
job, such as `bench --json`) never into a folder that does not exist."""
from __future__ import annotations

import argparse
import os

from inception_keras import runs, safeio
from inception_keras.errors import ConfigError

# command -> (the flag naming the file it writes, whether its folder must already exist)
OUTPUTS = {"summary": ("plot", True), "sweep": ("plot", True), "compare": ("plot", True), "bench": ("json", True),
           "import-weights": ("out", False), "export": ("out", False), "show": ("out", False)}


def add_force(p: argparse.ArgumentParser, command: str) -> None:
    """`--force` for the commands that write a file the user names."""
    if command in OUTPUTS:
        flag = OUTPUTS[command][0]
        p.add_argument("--force", action="store_true", help=f"replace an existing --{flag} (otherwise refused)")


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any work, an output that exists (without --force), lies in a run directory or (where the
    command writes after a long job) in a folder that does not exist."""
    if args.command not in OUTPUTS:
        return
    flag, folder_needed = OUTPUTS[args.command]
    path = getattr(args, flag, None)
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if any(os.path.lexists(os.path.join(folder, name)) for name in (runs.CONFIG, runs.STATE)):
        raise ConfigError(f"--{flag} {safeio.shown(path)}: {safeio.shown(folder)} is a run directory; only its "
                          "own trainer writes there (choose a path outside it)")
    if folder_needed and not os.path.isdir(folder):
        raise ConfigError(f"--{flag} {safeio.shown(path)}: the folder {safeio.shown(folder)} does not exist")
    try:
        safeio.refuse_existing(path, args.force)
    except ConfigError as e:
        raise ConfigError(f"--{flag} {e}") from None

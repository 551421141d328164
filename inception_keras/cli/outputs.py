"""The files the commands write, declared once: each command's output flag, its kind (the suffixes its name must
end in) and whether its folder is created; `--force` for each. `prepare` checks the output before any work, by
the one rule of `inception_keras.writing` (never over an existing path without --force; never a folder, a FIFO, a
device, a run directory, `.` or a folder above it, even with --force), and hands the command an `Output` in place
of the flag's string, so that the library's write applies the same rule with the user's --force."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from inception_keras import writing


@dataclass(frozen=True)
class Declared:
    """One command's output: the flag naming it (without --), its kind (or, by the value of the flag `by`, one
    kind per value: export's --format), and whether its folder is created when missing (otherwise it must exist:
    what is written after a long job is not lost to a typo in the folder)."""

    flag: str
    kind: writing.Kind | dict[str, writing.Kind]
    by: str = ""
    make_folder: bool = False

    def kind_for(self, args: argparse.Namespace) -> writing.Kind:
        return self.kind[getattr(args, self.by)] if self.by else self.kind


# command -> its output. A command that writes a file the user names is declared here (tests/cli/test_outputs.py
# fails for a command with an output flag that is not).
OUTPUTS = {
    "summary": Declared("plot", writing.PNG),
    "sweep": Declared("plot", writing.PNG),
    "search": Declared("plot", writing.PNG),
    "compare": Declared("plot", writing.PNG),
    "bench": Declared("json", writing.JSON),
    "show": Declared("out", writing.PNG, make_folder=True),
    "import-weights": Declared("out", writing.MODEL, make_folder=True),
    "export": Declared("out", writing.EXPORTS, by="format", make_folder=True),
}


def add_force(p: argparse.ArgumentParser, command: str) -> None:
    """`--force` for the commands that write a file the user names."""
    declared = OUTPUTS.get(command)
    if declared is not None:
        kinds = declared.kind.values() if isinstance(declared.kind, dict) else [declared.kind]
        what = ("a file, a link or an earlier SavedModel (never another folder" if any(k.folder for k in kinds)
                else "a file or a link (never a folder")
        p.add_argument("--force", action="store_true", help=f"replace an existing --{declared.flag} that is {what}, "
                       "a run directory or a device; otherwise refused)")


def prepare(args: argparse.Namespace) -> None:
    """Check the command's output before any work (a ConfigError names the flag, the path and why) and put the
    checked `writing.Output` in its place on `args`."""
    declared = OUTPUTS.get(args.command)
    if declared is None or not getattr(args, declared.flag, None):
        return
    out = writing.Output(getattr(args, declared.flag), declared.kind_for(args), force=args.force,
                         flag=f"--{declared.flag}", make_folder=declared.make_folder)
    setattr(args, declared.flag, writing.check(out))

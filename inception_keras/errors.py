"""Errors a user can act on.

`ConfigError` is bad input (a YAML mistake, a wrong flag, a finished run
directory): the CLI prints it without a traceback and exits 2. `TrainingError`
is a run that started and then failed (a NaN loss): exit 1.
"""
from __future__ import annotations

from dataclasses import dataclass

SHOWN = 60  # characters of a value (or a key in a YAML path) an error message quotes; more are cut to '...'


def clip(text: str, limit: int = SHOWN) -> str:
    """`text` as an error message quotes it: at most `limit` characters, then '...' (a value can be a whole
    file's text; the message stays one readable line). Every value and key the languages echo passes here."""
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class Problem:
    """One mistake in one file, at one YAML path."""

    file: str | None
    path: str  # YAML path, e.g. "stages.b3[1].3x3_reduce" ("" for the whole file)
    line: int | None  # 1-based
    column: int | None  # 1-based
    message: str

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class InceptionKerasError(Exception):
    exit_code = 1


class ConfigError(InceptionKerasError):
    """Bad input. Holds every problem found, so a file's mistakes are reported at once."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            self.problems = []
            text = problems
        else:
            self.problems = list(problems)
            text = "\n".join(str(p) for p in self.problems)
            if len(self.problems) > 1:
                files = sorted({p.file or "<input>" for p in self.problems})
                text = f"{len(self.problems)} errors in {', '.join(files)}:\n" + text
        super().__init__(text)


class TrainingError(InceptionKerasError):
    exit_code = 1


class Interrupted(KeyboardInterrupt):
    """SIGTERM (docker stop, Kubernetes) or SIGINT: stop; a training run keeps its last completed epoch."""

    def __init__(self, signum: int):
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def raise_interrupted(signum, frame):
    """A signal handler: turn SIGTERM/SIGINT into `Interrupted` (a container's PID 1 ignores unhandled SIGTERM)."""
    raise Interrupted(signum)

#!/usr/bin/env python3
"""Write docs/cli.md, every command's --help, from the command line's own parser.

  python tools/cli_reference.py            print it
  python tools/cli_reference.py --write    write docs/cli.md

tests/project/test_docs.py fails when docs/cli.md differs from this output.
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DOC = os.path.join(ROOT, "docs", "cli.md")

INTRO = """# Command line

Generated from the parser by `python tools/cli_reference.py --write`; `inception-keras COMMAND --help` prints
the same. `python -m inception_keras` is the same command. Bad input (a YAML mistake, a bad flag, a finished
run directory) prints `error: ...` and exits 2 without a traceback; a run that fails while training (a NaN
loss, a full disk) exits 1; a run stopped by SIGTERM or SIGINT exits 143 or 130 and resumes later.
"""


def reference() -> str:
    os.environ["COLUMNS"] = "110"  # the same wrapping wherever it is generated
    from inception_keras.cli import parser

    p = parser()
    (sub,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001 - argparse's API
    out = [INTRO, "```", p.format_help().rstrip(), "```", ""]
    for name, command in sub.choices.items():
        out += [f"## {name}", "", "```", command.format_help().rstrip(), "```", ""]
    return "\n".join(out)


def main() -> int:
    text = reference()
    if "--write" in sys.argv[1:]:
        with open(DOC, "w", encoding="utf-8") as f:
            f.write(text)
    elif "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        print(__doc__.strip())
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The template cases of issues 32 and 33 (templates first class, bounded expansion), each `summary FILE` run as a
real process of a checkout under hardening_cases' limits (address space, 60 s): exit status, seconds, peak memory
(ru_maxrss), the number of mistakes reported, the longest line printed and whether a traceback was printed.
For docs/reliability.md's table:

    python tools/template_cases.py --root OLD_CHECKOUT --out before.json    # the code before the change
    python tools/template_cases.py --root .          --out after.json
    python tools/template_cases.py --table before.json after.json           # the markdown table
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hardening_cases import run_case  # noqa: E402 - the same runner and limits as the other hostile cases

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAD = "name: t\ninput: [8, 8, 3]\nclasses: 2\ntemplates:\n"


def tail(use: str) -> str:
    return f"stages:\n  s:\n    - {use}\n    - global_avgpool\n    - dense: {{}}\n"


def nested(inner: int, mid: int | None, outer: int) -> str:
    """Templates whose repeats multiply: inner x mid x outer convolutions."""
    text = HEAD + "  inner:\n    layer: {conv: {filters: 2, kernel: 1}}\n"
    if mid is None:
        text += f"  outer:\n    layer: {{branch: {{branches: [[inner: {{repeat: {inner}}}]]}}}}\n"
    else:
        text += f"  mid:\n    layer: {{branch: {{branches: [[inner: {{repeat: {inner}}}]]}}}}\n"
        text += f"  outer:\n    layer: {{branch: {{branches: [[mid: {{repeat: {mid}}}]]}}}}\n"
    return text + tail(f"outer: {{name: o, repeat: {outer}}}")


def fan(width: int = 50, depth: int = 4) -> str:
    """Each template uses the next `width` times with different values: the counter's worst case."""
    text = HEAD
    for d in range(depth - 1):
        items = ", ".join(f"[t{d + 1}: {{c: $c + {k}}}]" for k in range(width))
        text += f"  t{d}:\n    params: {{c: 1}}\n    layer: {{branch: {{branches: [{items}]}}}}\n"
    text += f"  t{depth - 1}:\n    params: {{c: 1}}\n    layer: {{conv: {{filters: $c, kernel: 1}}}}\n"
    return text + tail("t0: {c: 1}")


ONE = HEAD + "  a:\n    params: {c: 4}\n    layer: {conv: {filters: %s, kernel: 1}}\n"
DERIVED = f"extends: {os.path.join('ARCH', 'inception_v3.yaml')}\nname: derived\n"

CASES = {
    "a template that uses itself": HEAD + "  a:\n    layer: {branch: {branches: [[a: {}]]}}\n" + tail("a: {}"),
    "two templates that use each other": HEAD + "  a:\n    layer: {branch: {branches: [[b: {}]]}}\n  b:\n    layer: "
                                                "{branch: {branches: [[a: {}]]}}\n" + tail("a: {}"),
    "10^6 layers (two nested repeats of 1000)": nested(1000, None, 1000),
    "10^9 layers (three nested repeats of 1000, 16 lines)": nested(1000, 1000, 1000),
    "50 uses of 50 uses of 50 uses, each with other values": fan(),
    "a chain of 2,000 templates": HEAD + "".join(f"  t{i}:\n    layers: [t{i + 1}: {{}}]\n" for i in range(2000))
                                  + "  t2000:\n    layers: [conv: {filters: 1, kernel: 1}]\n" + tail("t0: {}"),
    "19,001 layers (the largest accepted here)": nested(18, 1000, 1),
    "an unknown $param, used twice": ONE % "$d" + tail("a: {}\n    - a: {}"),
    "a bad value given at the use": ONE % "$c" + tail("a: {c: -3}"),
    "a value of 5,000 characters": ONE % "$c" + tail("a: {c: '%s'}" % ("x" * 5000)),
    "arithmetic: $c * 2": ONE % "$c * 2" + tail("a: {c: 3}"),
    "division by zero: $c // 0": ONE % "$c // 0" + tail("a: {}"),
    "derived: widen mixed5 by name": DERIVED + "stages:\n  mixed:\n    mixed5: {c7: 256}\n",
    "derived: add a template, use it": DERIVED + "templates:\n  one:\n    layer: {conv: {filters: 64, kernel: 1}}\n"
                                                 "stages:\n  mixed:\n    mixed10: {one: {name: ten}}\n",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=HERE)
    ap.add_argument("--out")
    ap.add_argument("--table", nargs=2, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args()
    if args.table:
        return print_table(*args.table)
    root = os.path.abspath(args.root)
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for name, text in CASES.items():
            path = os.path.join(d, "case.yaml")
            with open(path, "w") as f:
                f.write(text.replace("ARCH", os.path.join(root, "arch")))
            status, seconds, peak, err = run_case(root, ["summary", path], False, d)
            lines = err.strip().splitlines()
            many = re.match(r"error: (\d+) errors in ", lines[0]) if lines else None
            problems = int(many.group(1)) if many else sum(line.startswith("error:") for line in lines)
            out[name] = {"status": status, "seconds": round(seconds, 3), "peak_mib": round(peak),
                         "problems": problems, "longest": max(map(len, lines), default=0),
                         "traceback": "Traceback" in err,
                         "first": (err.strip().splitlines() or [""])[-1 if "Traceback" in err else 0][:160]}
            print(name, out[name], flush=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


def cell(r: dict) -> str:
    if r["status"] == "timeout":
        return "killed at 60 s"
    n = r["problems"]
    what = "traceback" if r["traceback"] else f"{n:,} error{'s' * (n != 1)} (longest line {r['longest']:,} chars)" \
        if r["status"] else "ok"
    return f"{r['status']}, {what}, {r['seconds']:.2f} s, {r['peak_mib']} MiB"


def print_table(before_path: str, after_path: str) -> None:
    before, after = json.load(open(before_path)), json.load(open(after_path))
    print("| case | before: exit, output, seconds, peak RSS | after |")
    print("|---|---|---|")
    for name in after:
        print(f"| {name} | {cell(before[name]) if name in before else '-'} | {cell(after[name])} |")


if __name__ == "__main__":
    main()

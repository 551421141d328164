#!/usr/bin/env python3
"""Ours against the hand-written peers, in one sitting, on this machine (docs/performance.md).

Runs, interleaved over --rounds rounds (so drift hits every configuration alike):
  ours     inception-keras bench --data both (synthetic and the real Fashion-MNIST pipeline), per precision
  keras    the Keras peer (tools/peers/keras_handwritten_googlenet.py), per precision
  pytorch  the PyTorch peer (tools/peers/torch_googlenet.py), fp32/bf16 x channels-first/last
and prints a markdown table of median images/s with the ratios the targets are stated in.

  python tools/bench_table.py --torch-python .venv-torch/bin/python [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from inception_keras.engine.bench import cpu_ticks, steal_share  # noqa: E402


def run_json(cmd: list[str], env=None) -> dict:
    t = time.perf_counter()
    before = cpu_ticks()
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}  # None: unset
    out = subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr[-2000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    record = json.loads(line)
    record["wall_seconds"] = round(time.perf_counter() - t, 1)
    record["cpu_steal"] = steal_share(before, cpu_ticks())
    return record


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peers", default=os.path.join(ROOT, "tools", "peers"), help="the folder of the peers")
    p.add_argument("--torch-python", default=None, help="a Python with torch (skip the PyTorch peer without)")
    p.add_argument("--precisions", default="float32", help="Keras precisions to measure, comma-separated")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--bf16-rounds", type=int, default=None,
                   help="rounds for the PyTorch bf16 configurations (default: --rounds); on CPUs without bf16 "
                        "hardware they are an order of magnitude slower, and one round tells")
    p.add_argument("--json", help="write every measurement here")
    a = p.parse_args()

    keras_peer = os.path.join(a.peers, "keras_handwritten_googlenet.py")
    torch_peer = os.path.join(a.peers, "torch_googlenet.py")
    configs = []
    for precision in a.precisions.split(","):
        configs.append((f"ours, {precision}", "ours", precision))
        # The peer as its users run it (TensorFlow's own oneDNN choice for this CPU), and with oneDNN on as
        # `inception-keras` runs by default, so that the ratio shows what the declarative layer itself costs.
        configs.append((f"Keras peer, {precision}", "keras", (precision, None)))
        configs.append((f"Keras peer, {precision}, oneDNN on", "keras", (precision, "1")))
    if a.torch_python:
        for precision in ("fp32", "bf16"):
            for cl in (False, True):
                label = f"PyTorch peer, {precision}{', channels-last' if cl else ''}"
                configs.append((label, "torch", (precision, cl)))
    samples: dict[str, list] = {name: [] for name, _, _ in configs}
    records = []
    bf16_rounds = a.rounds if a.bf16_rounds is None else a.bf16_rounds
    for rnd in range(a.rounds):
        for name, kind, arg in configs:
            if kind == "torch" and arg[0] == "bf16" and rnd >= bf16_rounds:
                continue
            if kind == "ours":
                with tempfile.NamedTemporaryFile(suffix=".json") as f:
                    subprocess.run([sys.executable, "-m", "inception_keras", "bench", "--precision", arg, "--data",
                                    "both", "--batch", str(a.batch), "--steps", str(a.steps), "--windows", "3",
                                    "--warmup", "2", "--json", f.name, "--force"],  # its own temporary file
                                   check=True, cwd=ROOT, capture_output=True,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
                    rec = json.load(open(f.name))
                samples[name].append((rec["results"][0]["images_per_second"], rec["results"][1]["images_per_second"]))
                rec["cpu_steal"] = rec["results"][0]["cpu_steal"]
            elif kind == "keras":
                precision, onednn = arg
                rec = run_json([sys.executable, keras_peer, "--precision", precision, "--batch", str(a.batch),
                                "--steps", str(a.steps)], env={"TF_ENABLE_ONEDNN_OPTS": onednn})
                samples[name].append((rec["images_per_second"], None))
            else:
                precision, cl = arg
                rec = run_json([a.torch_python, torch_peer, "--precision", precision, "--batch", str(a.batch),
                                "--steps", str(a.steps)] + (["--channels-last"] if cl else []))
                samples[name].append((rec["images_per_second"], None))
            rec.update(round=rnd, config=name)
            records.append(rec)
            print(f"round {rnd + 1}: {name}: {samples[name][-1][0]:.1f} images/s (CPU steal "
                  f"{100 * (rec.get('cpu_steal') or 0):.1f}%)", file=sys.stderr, flush=True)

    configs = [c for c in configs if samples[c[0]]]  # --bf16-rounds 0 leaves some unmeasured
    med = {n: statistics.median(s[0] for s in samples[n]) for n, _, _ in configs}
    real = {n: statistics.median(s[1] for s in samples[n]) for n, _, _ in configs if samples[n][0][1] is not None}
    torch_best = max((v for n, v in med.items() if n.startswith("PyTorch")), default=None)
    cpu = platform.processor()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    bf16_note = ""
    if a.torch_python and not bf16_rounds:
        bf16_note = " (PyTorch bf16 not measured)"
    elif a.torch_python and bf16_rounds != a.rounds:
        bf16_note = f" ({bf16_rounds} for PyTorch bf16)"
    print(f"Machine: {cpu}, {os.cpu_count()} cores; batch {a.batch}, 96x96x1, the seed network; median of "
          f"{a.rounds} rounds, interleaved{bf16_note}.\n")
    print("| configuration | images/s | real data | vs Keras peer | vs Keras peer, oneDNN on "
          "| vs PyTorch peer's best |")
    print("|---|---|---|---|---|---|")
    for name, _, arg in configs:
        keras_same = med.get(f"Keras peer, {arg}") if name.startswith("ours") else None
        keras_onednn = med.get(f"Keras peer, {arg}, oneDNN on") if name.startswith("ours") else None
        row = [name, f"{med[name]:.1f}"]
        row.append(f"{real[name]:.1f} ({real[name] / med[name]:.3f}x)" if name in real else "")
        row.append(f"{med[name] / keras_same:.2f}x" if keras_same else "")
        row.append(f"{med[name] / keras_onednn:.2f}x" if keras_onednn else "")
        row.append(f"{med[name] / torch_best:.2f}x" if torch_best and not name.startswith("PyTorch") else
                   ("best" if torch_best and med[name] == torch_best else ""))
        print("| " + " | ".join(row) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()

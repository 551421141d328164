"""The family speed table: ours (the YAML networks) against keras.applications, and timm on PyTorch when its
venv is there, in one sitting.

For InceptionV3, InceptionResNetV2 and Xception: training images/s (float32, SGD with momentum,
`train_on_batch` on one random batch) of ours and of keras.applications'; inference images/s
(`predict_on_batch`) of keras.applications' float32 model, of ours as trained (float32), of our float32
inference form (BatchNorm folded) and of our bfloat16 form (nn/inference.py). The configurations of a network
alternate in rounds (A B C ... A B C ...), so a busy machine slows all alike; the ratios are the result.
timm (inception_v3, inception_resnet_v2, legacy_xception) runs in `--timm-python` (.venv-timm, `make
.venv-timm`), in its own process per round; without it the table says so.

    nice -n 10 python tools/bench_family.py --size 139 --batch 16 --steps 3 --rounds 2
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
NETWORKS = {"InceptionV3": ("inception_v3", "inception_v3"),
            "InceptionResNetV2": ("inception_resnet_v2", "inception_resnet_v2"),
            "Xception": ("xception", "legacy_xception")}
TIMM_SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[5])
from torch_cpu import import_torchvision
import_torchvision()  # a torchvision whose compiled ops do not load next to the CPU torch (tools/reference)
import torch, timm
name, size, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
m = timm.create_model(name, pretrained=False, num_classes=10).to(memory_format=torch.channels_last)
x = torch.rand(batch, 3, size, size).to(memory_format=torch.channels_last); y = torch.randint(0, 10, (batch,))
opt = torch.optim.SGD(m.parameters(), 0.01, momentum=0.9); loss = torch.nn.CrossEntropyLoss()
def train():
    opt.zero_grad(); loss(m(x), y).backward(); opt.step()
def infer():
    with torch.inference_mode(): m(x)
out = {}
for what, fn in (("train", train), ("infer", infer)):
    m.train(what == "train"); fn()
    t = time.perf_counter()
    for _ in range(steps): fn()
    out[what] = steps * batch / (time.perf_counter() - t)
print(out)
"""


def configs(net: str, size: int, batch: int, classes: int = 10) -> dict:
    """{configuration: (kind, model)} for one network."""
    import keras

    from inception_keras.lang.parse import load_arch
    from inception_keras.nn.builder import build_model
    from inception_keras.nn.inference import inference_model

    arch, _ = NETWORKS[net]
    spec = load_arch(os.path.join(ROOT, "arch", f"{arch}.yaml"), sets=[("input", [size, size, 3]),
                                                                         ("classes", classes)])
    ref = getattr(keras.applications, net)(weights=None, input_shape=(size, size, 3), classes=classes,
                                          classifier_activation=None)
    ours = build_model(spec)
    for m in (ref, ours):
        m.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=False,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return {"train keras.applications": ("train", ref), "train ours": ("train", ours),
            "infer keras.applications": ("infer", ref), "infer ours": ("infer", ours),
            "infer ours folded": ("infer", inference_model(ours)),
            "infer ours bfloat16": ("infer", inference_model(ours, "bfloat16"))}


def timm_round(python: str, name: str, size: int, batch: int, steps: int) -> dict:
    r = subprocess.run([python, "-c", TIMM_SCRIPT, name, str(size), str(batch), str(steps),
                        os.path.join(ROOT, "tools", "reference")], capture_output=True,
                       text=True, timeout=900)
    if r.returncode:
        raise RuntimeError(f"timm {name}: {r.stderr.strip().splitlines()[-1:]}")
    return eval(r.stdout.strip().splitlines()[-1], {})  # noqa: S307 - our own script's dict of floats


def measure(net: str, a, timm_python: str | None) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (a.batch, a.size, a.size, 3)).astype("float32")
    y = rng.integers(0, 10, a.batch)
    cs = configs(net, a.size, a.batch)
    step = {"train": lambda m: m.train_on_batch(x, y), "infer": lambda m: m.predict_on_batch(x)}
    for kind, m in cs.values():  # warm-up: trace each function
        step[kind](m)
        step[kind](m)
    seconds = dict.fromkeys(cs, 0.0)
    timm = {"train": [], "infer": []}
    for _ in range(a.rounds):
        for name, (kind, m) in cs.items():
            t = time.perf_counter()
            for _ in range(a.steps):
                step[kind](m)
            seconds[name] += time.perf_counter() - t
        if timm_python:
            for k, v in timm_round(timm_python, NETWORKS[net][1], a.size, a.batch, a.steps).items():
                timm[k].append(v)
    rate = {k: a.rounds * a.steps * a.batch / v for k, v in seconds.items()}
    if timm_python:
        rate.update({f"{k} timm": float(np.median(v)) for k, v in timm.items()})
    return rate


def table(results: dict) -> str:
    rows = ["| network | training: ours / keras.applications | inference: ours / keras | folded / keras | "
            "bfloat16 / keras | timm training / ours | timm inference / our folded |", "|---|---|---|---|---|---|---|"]
    for net, r in results.items():
        def ratio(a, b, r=r):
            return f"{r[a] / r[b]:.2f}x" if a in r and b in r else "n/a"
        rows.append(f"| {net} | {ratio('train ours', 'train keras.applications')} | "
                    f"{ratio('infer ours', 'infer keras.applications')} | "
                    f"{ratio('infer ours folded', 'infer keras.applications')} | "
                    f"{ratio('infer ours bfloat16', 'infer keras.applications')} | "
                    f"{ratio('train timm', 'train ours')} | {ratio('infer timm', 'infer ours folded')} |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=139)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=3, help="timed steps per configuration per round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    p.add_argument("--timm-python", default=os.path.join(ROOT, ".venv-timm", "bin", "python"))
    p.add_argument("--json", help="also write the images/s here")
    a = p.parse_args()
    timm_python = a.timm_python if os.path.exists(a.timm_python) else None
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "unknown CPU")
    flags = next((set(line.split(":", 1)[1].split()) for line in open("/proc/cpuinfo") if line.startswith("flags")),
                 set())
    results = {}
    for net in a.networks:
        results[net] = measure(net, a, timm_python)
        print(net, {k: round(v, 2) for k, v in results[net].items()}, flush=True)
    print(f"\nCPU: {cpu}, {os.cpu_count()} cores, bf16 flags: "
          f"{' '.join(sorted(flags & {'avx512_bf16', 'amx_bf16', 'amx_tile'})) or 'none'}; input {a.size}, batch "
          f"{a.batch}, {a.rounds} alternating rounds x {a.steps} steps"
          + ("" if timm_python else f"; timm not measured ({a.timm_python} missing: make .venv-timm)"))
    print(table(results))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cpu": cpu, "args": vars(a), "images_per_s": results}, f, indent=1)


if __name__ == "__main__":
    main()

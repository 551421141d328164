#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 (inception-keras, setup.cfg). The benchmarks' hand-written peer, kept as
# measured in docs/performance.md: only these two lines were added.
"""PyTorch peer: the seed's GoogLeNet (d2l variant: 96x96x1 input, 10 classes,
5x5 branch, bias, no BN), written by hand the way a PyTorch user would.

Measures training throughput (images/s) on random data: forward, loss,
backward, SGD step. Needs only torch:  pip install torch==2.13.0

  python torch_googlenet.py --precision bf16 --channels-last --batch 128 --steps 8

Prints one JSON line per run.
"""
import argparse, json, time

import torch
from torch import nn
from torch.nn import functional as F


class Inception(nn.Module):
    def __init__(self, cin, c1, c2, c3, c4):
        super().__init__()
        self.b1 = nn.Conv2d(cin, c1, 1)
        self.b2_1, self.b2_2 = nn.Conv2d(cin, c2[0], 1), nn.Conv2d(c2[0], c2[1], 3, padding=1)
        self.b3_1, self.b3_2 = nn.Conv2d(cin, c3[0], 1), nn.Conv2d(c3[0], c3[1], 5, padding=2)
        self.b4_1, self.b4_2 = nn.MaxPool2d(3, 1, 1), nn.Conv2d(cin, c4, 1)

    def forward(self, x):
        return torch.cat((
            F.relu(self.b1(x)),
            F.relu(self.b2_2(F.relu(self.b2_1(x)))),
            F.relu(self.b3_2(F.relu(self.b3_1(x)))),
            F.relu(self.b4_2(self.b4_1(x)))), 1)


def googlenet(classes=10):
    return nn.Sequential(
        nn.Conv2d(1, 64, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        nn.Conv2d(64, 64, 1), nn.ReLU(), nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        Inception(192, 64, (96, 128), (16, 32), 32), Inception(256, 128, (128, 192), (32, 96), 64),
        nn.MaxPool2d(3, 2, 1),
        Inception(480, 192, (96, 208), (16, 48), 64), Inception(512, 160, (112, 224), (24, 64), 64),
        Inception(512, 128, (128, 256), (24, 64), 64), Inception(512, 112, (144, 288), (32, 64), 64),
        Inception(528, 256, (160, 320), (32, 128), 128), nn.MaxPool2d(3, 2, 1),
        Inception(832, 256, (160, 320), (32, 128), 128), Inception(832, 384, (192, 384), (48, 128), 128),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(1024, classes))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--channels-last", action="store_true")
    a = p.parse_args()
    torch.manual_seed(0)
    net = googlenet()
    x = torch.rand(a.batch, 1, a.size, a.size)
    y = torch.randint(0, 10, (a.batch,))
    if a.channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t
    print(json.dumps({"peer": "pytorch-handwritten", "torch": torch.__version__,
                      "params": sum(q.numel() for q in net.parameters()),
                      "precision": a.precision, "channels_last": a.channels_last,
                      "batch": a.batch, "size": a.size, "steps": a.steps,
                      "images_per_second": round(a.batch * a.steps / dt, 2)}))


if __name__ == "__main__":
    main()

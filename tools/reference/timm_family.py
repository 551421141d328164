"""Golden references for the Inception family from timm and torchvision (run in .venv-timm: `make golden-timm`).

Writes tests/fixtures/{name}_{size}.npz for each reference below at its default input (299) and at 139 (odd,
not a multiple of 32, above each network's minimum):

  timm_inception_v4          timm.create_model("inception_v4")  (42,679,816 parameters)
  torchvision_inception_v3   torchvision.models.inception_v3(weights=None, aux_logits=True,
                             transform_input=False, init_weights=False)  (27,161,264 with its aux head)

Random weights, none stored: every state_dict tensor is `seeded.tensor(seed, key, shape, role)` (NumPy only,
tools/reference/seeded.py: He-scaled kernels, BatchNorm weight 1 + N(0, 0.1), bias and running_mean N(0, 0.1),
running_var U(0.5, 1.5)), loaded with the reference's own `load_state_dict(strict=True)`. Each fixture holds:

  seed, state.keys, state.ndim, state.shapes, state.digest   the state dict's keys and shapes in state_dict
                                                             order and seeded.digest_all of what was loaded
  input.key, input.shape, input.digest     the batch-2 NCHW N(0, 1) float32 input: seeded.inputs(seed, key, shape)
  logits                                   [2, 1000], eval mode, float32
  aux.logits                               (torchvision, where the head fits the input: 299) the AuxLogits head
                                           called in eval mode on Mixed_6e's output, caught by a forward hook
  act.<module>.*                           seeded.compact of a few modules' outputs (NCHW), for diagnosis
  versions                                 torch, torchvision, timm, numpy

CPU torch: torchvision's compiled operators may not load with the CPU wheel; torch_cpu.import_torchvision
imports it anyway (classification models never call them).
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import seeded  # noqa: E402
import torch  # noqa: E402
import torch_cpu  # noqa: E402

torchvision = torch_cpu.import_torchvision()
import timm  # noqa: E402

SEED = 0
SIZES = (299, 139)
HOOKS = {
    "timm_inception_v4": ("features.2", "features.5", "features.9", "features.10", "features.17", "features.18",
                          "features.21", "global_pool"),
    "torchvision_inception_v3": ("Conv2d_4a_3x3", "Mixed_5d", "Mixed_6a", "Mixed_6e", "Mixed_7a", "Mixed_7c",
                                 "avgpool"),
}


def make(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "timm_inception_v4":
            return timm.create_model("inception_v4", pretrained=False)
        return torchvision.models.inception_v3(weights=None, aux_logits=True, transform_input=False,
                                               init_weights=False)


def build(name: str):
    """The reference with seeded weights (eval mode), its (key, shape) list and the arrays it holds."""
    return seeded.load_seeded(make(name), SEED)


def reference(name, model, keys_shapes, loaded, size) -> dict:
    out = {"seed": np.int64(SEED), "state.keys": np.array([k for k, _ in keys_shapes]),
           "state.ndim": np.array([len(s) for _, s in keys_shapes], np.int64),
           "state.shapes": np.array([d for _, s in keys_shapes for d in s], np.int64),
           "state.digest": np.array(seeded.digest_all(loaded)),
           "versions": np.array(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
                                f"timm {timm.__version__}, numpy {np.__version__}")}
    key, shape = f"input{size}", (2, 3, size, size)
    x = seeded.inputs(SEED, key, shape)
    out["input.key"], out["input.shape"], out["input.digest"] = np.array(key), np.array(shape), \
        np.array(seeded.digest(x))
    caught, modules = {}, dict(model.named_modules())
    hooked = list(HOOKS[name]) + (["Mixed_6e"] if name.startswith("torchvision") else [])
    hooks = [modules[m].register_forward_hook(lambda mod, i, o, m=m: caught.__setitem__(m, o.detach()))
             for m in dict.fromkeys(hooked)]
    with torch.no_grad():
        out["logits"] = model(torch.from_numpy(x)).numpy()
        if name.startswith("torchvision"):
            try:
                out["aux.logits"] = model.AuxLogits(caught["Mixed_6e"]).numpy()
            except RuntimeError as e:  # the head's 5x5 convolution does not fit below ~299 px
                print(f"  {name} {size}px: no aux logits ({str(e).splitlines()[0][:80]})")
    for h in hooks:
        h.remove()
    for m in HOOKS[name]:
        out.update(seeded.compact(f"act.{m}", caught[m].numpy()))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "fixtures"))
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--only", choices=sorted(HOOKS), nargs="+", default=sorted(HOOKS))
    args = p.parse_args(argv)
    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.only:
        model, keys_shapes, loaded = build(name)
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: {params:,} parameters, {len(keys_shapes)} state_dict tensors, seed {SEED}")
        for size in args.sizes:
            out = reference(name, model, keys_shapes, loaded, size)
            path = os.path.join(args.out_dir, f"{name}_{size}.npz")
            np.savez_compressed(path, **out)
            print(f"  wrote {path} ({os.path.getsize(path):,} bytes): logits[0, :4] "
                  f"{np.round(out['logits'][0, :4], 4).tolist()}, |logits| max {np.abs(out['logits']).max():.3g}"
                  + (f", aux {np.round(out['aux.logits'][0, :4], 4).tolist()}" if "aux.logits" in out else ""))


if __name__ == "__main__":
    main()

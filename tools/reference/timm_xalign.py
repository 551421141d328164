"""Golden references for the aligned Xceptions from timm (run in .venv-timm: `make golden-xalign`).

Writes tests/fixtures/timm_{name}_{size}.npz for timm's xception41, xception65 and xception71
(timm/models/xception_aligned.py; 26,969,560, 39,916,312 and 42,338,736 parameters) at their default input (299)
and at 139 (odd, not a multiple of 32: the stride-2 convolutions meet odd maps, where PyTorch's symmetric padding
and Keras' same differ). Weights are seeded as tools/reference/timm_family.py seeds them (seeded.load_seeded:
BatchNorm's running statistics perturbed, the BatchNorm between the depthwise and pointwise steps included), none
stored. Each fixture holds the seed, the state dict's keys, shapes and digest, the input's key, shape and digest,
the eval-mode logits [2, 1000], seeded.compact summaries of a few modules' outputs (`act.<module>.*`, NCHW), the
versions, and timm's pretrained configurations: `cfg.mean`, `cfg.std` (the input normalization every tag shares)
and `cfg.tags` ("TAG HF_HUB_ID CROP_PCT INTERPOLATION" per pretrained tag).
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

torch_cpu.import_torchvision()  # timm imports torchvision, whose compiled operators may not load with CPU torch
import timm  # noqa: E402

SEED = 0
SIZES = (299, 139)
NAMES = ("xception41", "xception65", "xception71")
HOOKS = ("stem", "blocks.0", "blocks.2", "head.global_pool")


def reference(name, model, keys_shapes, loaded, size) -> dict:
    out = {"seed": np.int64(SEED), "state.keys": np.array([k for k, _ in keys_shapes]),
           "state.ndim": np.array([len(s) for _, s in keys_shapes], np.int64),
           "state.shapes": np.array([d for _, s in keys_shapes for d in s], np.int64),
           "state.digest": np.array(seeded.digest_all(loaded)),
           "versions": np.array(f"torch {torch.__version__}, timm {timm.__version__}, numpy {np.__version__}")}
    key, shape = f"input{size}", (2, 3, size, size)
    x = seeded.inputs(SEED, key, shape)
    out["input.key"], out["input.shape"], out["input.digest"] = np.array(key), np.array(shape), \
        np.array(seeded.digest(x))
    caught, modules = {}, dict(model.named_modules())
    hooks = [modules[m].register_forward_hook(lambda mod, i, o, m=m: caught.__setitem__(m, o.detach()))
             for m in HOOKS]
    with torch.no_grad():
        out["logits"] = model(torch.from_numpy(x)).numpy()
    for h in hooks:
        h.remove()
    tags = timm.list_pretrained(f"{name}.*")
    cfgs = [timm.models.get_pretrained_cfg(t).to_dict() for t in tags]
    out["cfg.mean"], out["cfg.std"] = np.array(cfgs[0]["mean"]), np.array(cfgs[0]["std"])
    out["cfg.tags"] = np.array([f"{t} {c['hf_hub_id']} {c['crop_pct']} {c['interpolation']}"
                                for t, c in zip(tags, cfgs)])
    for m in HOOKS:
        out.update(seeded.compact(f"act.{m}", caught[m].numpy()))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "fixtures"))
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--only", choices=NAMES, nargs="+", default=list(NAMES))
    args = p.parse_args(argv)
    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.only:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, keys_shapes, loaded = seeded.load_seeded(timm.create_model(name, pretrained=False), SEED)
        params = sum(p.numel() for p in model.parameters())
        print(f"timm {name}: {params:,} parameters, {len(keys_shapes)} state_dict tensors, seed {SEED}")
        for size in args.sizes:
            out = reference(name, model, keys_shapes, loaded, size)
            path = os.path.join(args.out_dir, f"timm_{name}_{size}.npz")
            np.savez_compressed(path, **out)
            print(f"  wrote {path} ({os.path.getsize(path):,} bytes): logits[0, :4] "
                  f"{np.round(out['logits'][0, :4], 4).tolist()}, |logits| max {np.abs(out['logits']).max():.3g}")


if __name__ == "__main__":
    main()

"""Golden references for InceptionNeXt from timm's own code (run in .venv-timm: `make golden-timm`).

Writes tests/fixtures/timm_inception_next_{variant}_{size}.npz for timm.create_model("inception_next_<variant>")
(timm 1.0.31: atto 4,156,520, tiny 28,055,680, small 49,374,016, base 86,672,136 parameters) at 224 and at 150
(not a multiple of 32: the 4x4 stem and the 2x2 downsamples drop the last rows, 150 -> 37 -> 18 -> 9 -> 4).

Random weights, none stored: every state_dict tensor is `seeded.tensor(seed, key, shape, role)`, its role read off
the module that holds it (BatchNorm and LayerNorm weight: gamma, bias: beta, running statistics: mean and var, so
a wrong epsilon shows; a MetaNeXt block's layer scale `gamma`: gamma, near 1, so every block's branch counts; conv
and linear weight: kernel, bias: bias), loaded with timm's own `load_state_dict(strict=True)`. Each fixture holds
seed, state.keys / ndim / shapes / roles / digest, input.key / shape / digest (batch-2 NCHW N(0, 1) float32),
logits ([2, 1000], eval mode), params (timm's parameter count), act.<module>.* (seeded.compact of the stem's and
each stage's output, NCHW, for diagnosis), versions, and timm's pretrained configurations: `cfg.mean`, `cfg.std`
(the input normalization every tag shares) and `cfg.tags` ("TAG HF_HUB_ID CROP_PCT INTERPOLATION INPUT_SIZE").
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

torch_cpu.import_torchvision()  # timm imports torchvision, whose compiled ops may not load with the CPU wheel
import timm  # noqa: E402

SEED = 0
SIZES = (224, 150)
VARIANTS = ("atto", "tiny", "small", "base")
HOOKS = ("stem", "stages.0", "stages.1", "stages.2", "stages.3")
NORMS = (torch.nn.BatchNorm2d, torch.nn.LayerNorm)


def roles(model) -> list:
    """The seeded.py role of every state_dict key, from the module that holds it."""
    modules = dict(model.named_modules())
    out = []
    for key in model.state_dict():
        prefix, _, leaf = key.rpartition(".")
        module = modules[prefix]
        if leaf in ("running_mean", "running_var", "num_batches_tracked"):
            out.append({"running_mean": "mean", "running_var": "var"}.get(leaf, "count"))
        elif isinstance(module, NORMS):
            out.append({"weight": "gamma", "bias": "beta"}[leaf])
        elif leaf == "gamma":
            out.append("gamma")
        else:
            out.append({"weight": "kernel", "bias": "bias"}[leaf])
    return out


def build(variant: str):
    """timm's model with seeded weights (eval mode), its (key, shape) list, roles and the arrays it holds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = timm.create_model(f"inception_next_{variant}", pretrained=False)
    keys_shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    role = roles(model)
    state = seeded.state_dict(SEED, keys_shapes, role)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    model.eval()
    loaded = [v.detach().cpu().numpy() for v in model.state_dict().values()]
    assert all(np.array_equal(a, state[k]) for (k, _), a in zip(keys_shapes, loaded))
    return model, keys_shapes, role, loaded


def pretrained_cfg(name: str) -> dict:
    """timm's pretrained configurations of `name`: the input normalization every tag shares, and per tag
    "TAG HF_HUB_ID CROP_PCT INTERPOLATION INPUT_SIZE"."""
    tags = timm.list_pretrained(f"{name}.*")
    cfgs = [timm.models.get_pretrained_cfg(t).to_dict() for t in tags]
    assert all(c["mean"] == cfgs[0]["mean"] and c["std"] == cfgs[0]["std"] for c in cfgs)
    return {"cfg.mean": np.array(cfgs[0]["mean"]), "cfg.std": np.array(cfgs[0]["std"]),
            "cfg.tags": np.array([f"{t} {c['hf_hub_id']} {c['crop_pct']} {c['interpolation']} "
                                  f"{'x'.join(map(str, c['input_size']))}" for t, c in zip(tags, cfgs)])}


def reference(model, keys_shapes, role, loaded, size) -> dict:
    out = {"seed": np.int64(SEED), "state.keys": np.array([k for k, _ in keys_shapes]),
           "state.ndim": np.array([len(s) for _, s in keys_shapes], np.int64),
           "state.shapes": np.array([d for _, s in keys_shapes for d in s], np.int64),
           "state.roles": np.array(role), "state.digest": np.array(seeded.digest_all(loaded)),
           "params": np.int64(sum(p.numel() for p in model.parameters())),
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
    out.update(pretrained_cfg(model.pretrained_cfg["architecture"]))
    for m in HOOKS:
        out.update(seeded.compact(f"act.{m}", caught[m].numpy()))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "fixtures"))
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--only", choices=VARIANTS, nargs="+", default=list(VARIANTS))
    args = p.parse_args(argv)
    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    os.makedirs(args.out_dir, exist_ok=True)
    for variant in args.only:
        model, keys_shapes, role, loaded = build(variant)
        params = sum(p.numel() for p in model.parameters())
        print(f"inception_next_{variant}: {params:,} parameters, {len(keys_shapes)} state_dict tensors, seed {SEED}")
        for size in args.sizes:
            out = reference(model, keys_shapes, role, loaded, size)
            path = os.path.join(args.out_dir, f"timm_inception_next_{variant}_{size}.npz")
            np.savez_compressed(path, **out)
            print(f"  wrote {path} ({os.path.getsize(path):,} bytes): logits[0, :4] "
                  f"{np.round(out['logits'][0, :4], 4).tolist()}, |logits| max {np.abs(out['logits']).max():.3g}")


if __name__ == "__main__":
    main()

"""Golden reference from torchvision's own GoogLeNet (with aux heads), at 224, 299 and 200 px.

Run (PyTorch in its own venv; it is not a project dependency and the tests never import it):

    make .venv-torchvision/.installed      # torch==2.14.1 torchvision==0.29.1, CPU builds where PyTorch's index answers
    .venv-torchvision/bin/python tools/reference/torchvision_googlenet.py

(`make golden` does this.) Which install works: on this project's x86_64 machines, torch 2.14.1 with
torchvision 0.29.1 (a CUDA build, about 5.5 GB in the venv, run on the CPU). The CPU-only
torch 2.13.0 that lies on the machines' disk does not import PyPI's torchvision ("operator
torchvision::nms does not exist"); on aarch64 torch 2.9.1 with torchvision 0.24.1 is the pair known
to work. No stub of torch.library.register_fake is needed with these pairs.

The model is `torchvision.models.googlenet(weights=None, aux_logits=True, transform_input=False,
init_weights=False)` in eval mode, every state_dict tensor set from seeded.py (BatchNorm running
statistics perturbed, so they matter). Nothing is downloaded. For each input size S in 224, 299, 200
it writes tests/fixtures/torchvision_googlenet_{S}.npz (np.savez_compressed, well under 1 MB):

  seed                   the weight and input seed
  state.keys / .shapes (flattened, with state.ndim)
                         the state_dict's keys in order and shapes (torch layout: OIHW, linear (out, in));
                         weights are NOT stored: seeded.torchvision_state_dict(seed, keys_shapes)
                         regenerates them
  state.digest           seeded.digest_all of the state_dict as loaded, in key order
  input.key, input.shape, input.digest
                         the batch-2 NCHW float32 N(0,1) input: seeded.inputs(seed, key, shape)
  logits                 main logits [2, 1000] (eval mode)
  aux1.logits, aux2.logits
                         model.aux1 / model.aux2 called (eval mode: no dropout) on the outputs of
                         inception4a / inception4d caught by forward hooks; torchvision runs its aux
                         heads only when training
  act.<module>.*         seeded.compact of the outputs of conv1, maxpool1, maxpool2, inception3b,
                         inception4a, inception4d, maxpool4, inception5b, avgpool (NCHW, batch 2):
                         the shape always, whole or subsampled values with per-channel mean and max

and tests/fixtures/torchvision_googlenet_imagenet.npz: the input torchvision's *pretrained* googlenet
expects. `googlenet(weights=None, aux_logits=False, transform_input=True, init_weights=False)` (what
`googlenet(weights=GoogLeNet_Weights.IMAGENET1K_V1)` builds; the same seeded state dict, without the
aux heads' keys) is given [0, 1] images normalised the ImageNet way,
`torchvision.transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)`, as its weights' transforms do:

  seed, state.keys / .shapes / .ndim / .digest     as above (no aux1.*, aux2.*)
  images.key, images.shape, images.digest          the batch-2 NCHW [0, 1] images:
                                                   seeded.images(seed, key, shape) (8-bit values / 255)
  mean, std                                        the ImageNet normalisation applied before the model
  transform_input                                  True (the model's flag)
  logits                                           [2, 1000], eval mode
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
import torchvision  # noqa: E402

SEED = 0
SIZES = (224, 299, 200)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HOOKED = ("conv1", "maxpool1", "maxpool2", "inception3b", "inception4a", "inception4d", "maxpool4",
          "inception5b", "avgpool")


def build(aux_logits=True, transform_input=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torchvision.models.googlenet(weights=None, aux_logits=aux_logits, transform_input=transform_input,
                                             init_weights=False)
    return seeded.load_seeded(model, SEED)


def reference(model, keys_shapes, loaded, size):
    out = state_arrays(keys_shapes, loaded)
    key, shape = f"input{size}", (2, 3, size, size)
    x = seeded.inputs(SEED, key, shape)
    out["input.key"], out["input.shape"] = np.array(key), np.array(shape)
    out["input.digest"] = np.array(seeded.digest(x))

    caught = {}
    hooks = [getattr(model, name).register_forward_hook(
        lambda mod, inp, outp, name=name: caught.__setitem__(name, outp.detach())) for name in HOOKED]
    with torch.no_grad():
        logits = model(torch.from_numpy(x))
        aux1 = model.aux1(caught["inception4a"])
        aux2 = model.aux2(caught["inception4d"])
    for h in hooks:
        h.remove()
    out["logits"] = logits.numpy()
    out["aux1.logits"], out["aux2.logits"] = aux1.numpy(), aux2.numpy()
    for name in HOOKED:
        out.update(seeded.compact(f"act.{name}", caught[name].numpy()))
    return out


def state_arrays(keys_shapes, loaded) -> dict:
    return {"seed": np.int64(SEED), "state.keys": np.array([k for k, _ in keys_shapes]),
            "state.ndim": np.array([len(s) for _, s in keys_shapes], np.int64),
            "state.shapes": np.array([d for _, s in keys_shapes for d in s], np.int64),
            "state.digest": np.array(seeded.digest_all(loaded))}


def imagenet_reference(size=224):
    """The pretrained weights' input path: ImageNet normalisation, then transform_input=True."""
    model, keys_shapes, loaded = build(aux_logits=False, transform_input=True)
    assert model.transform_input and not any(k.startswith("aux") for k, _ in keys_shapes)
    out = state_arrays(keys_shapes, loaded)
    key, shape = f"images{size}", (2, 3, size, size)
    x = seeded.images(SEED, key, shape)
    assert 0 <= x.min() and x.max() <= 1
    out["images.key"], out["images.shape"], out["images.digest"] = np.array(key), np.array(shape), \
        np.array(seeded.digest(x))
    out["mean"], out["std"] = np.array(IMAGENET_MEAN, np.float64), np.array(IMAGENET_STD, np.float64)
    out["transform_input"] = np.array(True)
    normalize = torchvision.transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    with torch.no_grad():
        out["logits"] = model(normalize(torch.from_numpy(x))).numpy()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "fixtures"))
    p.add_argument("--sizes", type=int, nargs="*", default=list(SIZES), help="input sizes of the "
                   "torchvision_googlenet_{S}.npz fixtures (none: only the ImageNet-input fixture)")
    p.add_argument("--no-imagenet", action="store_true", help="skip torchvision_googlenet_imagenet.npz")
    args = p.parse_args(argv)
    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    model, keys_shapes, loaded = build()
    os.makedirs(args.out_dir, exist_ok=True)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, numpy {np.__version__}; "
          f"{len(keys_shapes)} state_dict tensors, seed {SEED}")
    for size in args.sizes:
        out = reference(model, keys_shapes, loaded, size)
        path = os.path.join(args.out_dir, f"torchvision_googlenet_{size}.npz")
        np.savez_compressed(path, **out)
        shapes = ", ".join(f"{n} {tuple(int(d) for d in out[f'act.{n}.shape'][1:])}" for n in HOOKED)
        print(f"wrote {path} ({os.path.getsize(path):,} bytes)")
        print(f"  input {tuple(int(d) for d in out['input.shape'])}; {shapes}")
        print(f"  logits[0, :4] {np.round(out['logits'][0, :4], 4).tolist()}, aux1 "
              f"{np.round(out['aux1.logits'][0, :4], 4).tolist()}, "
              f"aux2 {np.round(out['aux2.logits'][0, :4], 4).tolist()}")
    if not args.no_imagenet:
        out = imagenet_reference()
        path = os.path.join(args.out_dir, "torchvision_googlenet_imagenet.npz")
        np.savez_compressed(path, **out)
        print(f"wrote {path} ({os.path.getsize(path):,} bytes): transform_input=True on ImageNet-normalised "
              f"[0, 1] images {tuple(int(d) for d in out['images.shape'])}; logits[0, :4] "
              f"{np.round(out['logits'][0, :4], 4).tolist()}")


if __name__ == "__main__":
    main()

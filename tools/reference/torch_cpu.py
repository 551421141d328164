"""Import torchvision on a CPU-only torch wheel (the reference venv `make .venv-timm/.installed` builds).

torchvision's wheels are built against one torch build; with the CPU wheel of the matching torch its
compiled operators (`torchvision::nms`, `roi_align`, ...) may not load, and torchvision's import then fails
in `torch.library.register_fake("torchvision::nms")`. The classification models the references use
(googlenet, inception_v3) never call those operators, so while torchvision is imported `register_fake`
becomes a no-op decorator, and is restored afterwards. Nothing else is patched.
"""
from __future__ import annotations

import torch


def _no_op_register_fake(op, func=None, /, *args, **kwargs):
    if func is not None:
        return func
    return lambda f: f


def import_torchvision():
    """torchvision, imported with the CPU-wheel workaround above when a plain import fails."""
    try:
        import torchvision
        return torchvision
    except RuntimeError as e:
        if "does not exist" not in str(e):
            raise
    import sys

    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    real = torch.library.register_fake
    torch.library.register_fake = _no_op_register_fake
    try:
        import torchvision
    finally:
        torch.library.register_fake = real
    return torchvision

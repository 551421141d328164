"""State dicts from files: `.npz` (NumPy), `.safetensors` (the `safetensors` library's NumPy reader and writer)
and `.pth` / `.pt` (only where `import torch` works), each as {key: np.ndarray}. A file that cannot be read as
its format raises `ConfigError` naming it (the CLI exits 2)."""
from __future__ import annotations

import os

import numpy as np

from inception_keras import safeio
from inception_keras.errors import ConfigError


def _bfloat16_known() -> None:
    """NumPy has no bfloat16; ml_dtypes (a TensorFlow dependency) registers one, so that safetensors reads BF16
    tensors (a common checkpoint dtype), which are then widened to float32."""
    try:
        import ml_dtypes  # noqa: F401
    except ImportError:
        pass


def read_safetensors(path: str) -> dict:
    """A .safetensors file as {name: np.ndarray} (BF16 widened to float32), or ConfigError naming the file."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    _bfloat16_known()
    safeio.check_safetensors(path)  # header, offsets and length checked before the library reads anything
    try:
        tensors = load_file(path)
    except SafetensorError as e:
        text = str(e).removeprefix("Error while deserializing header: ")
        if text.lower().startswith("invalid json"):
            text = f"bad JSON header: {text.split(': ', 1)[-1]}"
        raise ConfigError(f"{path}: not a safetensors file ({text})") from None
    except TypeError as e:  # a dtype NumPy does not know (BF16 without ml_dtypes, F8_*)
        raise ConfigError(f"{path}: unsupported safetensors dtype ({e})") from None
    return {name: (a.astype(np.float32) if a.dtype.name == "bfloat16" else np.array(a)) for name, a in tensors.items()}


def write_safetensors(path: str, tensors: dict, metadata: dict | None = None) -> None:
    """Write {name: array} as .safetensors (for tests and conversions; the format read_safetensors reads)."""
    from safetensors.numpy import save_file

    arrays = {}
    for name, array in tensors.items():
        a = np.asarray(array)
        arrays[name] = a.astype(a.dtype.newbyteorder("<")) if a.dtype.byteorder == ">" else a
    save_file(arrays, path, metadata={str(k): str(v) for k, v in metadata.items()} if metadata else None)


def _torch_state(path: str) -> dict:
    try:
        import torch
    except ImportError:
        raise ConfigError(f"{path}: reading .pth/.pt needs PyTorch (pip install torch), or convert the state "
                          "dict to .safetensors or .npz") from None
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    out = {}
    for k, v in obj.items():
        if torch.is_tensor(v):
            v = v.detach().cpu()
            out[k] = (v.float() if v.dtype == torch.bfloat16 else v).numpy()
    return out


def _read_npz(path: str) -> dict:
    safeio.check_npz(path)  # the members' declared sizes, before any is decompressed
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def check_numbers(path: str, tensors: dict) -> dict:
    """Every tensor a finite array of real numbers (floats, or integers such as BatchNorm's step count): a NaN,
    an infinity, a complex, string, boolean, object or structured array is one error naming the tensor."""
    for name, a in tensors.items():
        a = np.asarray(a)
        label = safeio.shown(str(name))[:80]
        if a.dtype.kind not in "fiu" or a.dtype.fields is not None:
            raise ConfigError(f"{path}: tensor '{label}' holds {a.dtype} values, not real numbers; refused")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = int(a.size - np.isfinite(a).sum())
            raise ConfigError(f"{path}: tensor '{label}' holds {bad:,} NaN or infinite value(s); refused")
    return tensors


def load_state_dict(path: str) -> dict:
    """A state dict as {key: np.ndarray} from .npz, .safetensors or .pth/.pt (the last needs torch).
    A file that cannot be read as its format raises ConfigError naming it."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: not a regular file")
    low = path.lower()
    if low.endswith(".npz"):
        reader = _read_npz
    elif low.endswith(".safetensors"):
        reader = read_safetensors
    elif low.endswith((".pth", ".pt")):
        reader = _torch_state
    else:
        raise ConfigError(f"{path}: unknown state dict format (expected .npz, .safetensors, .pth or .pt)")
    try:
        with safeio.open_binary(path, "state dict", safeio.LIMITS["weights"]):
            pass  # a regular file within the cap (not a FIFO, a device or 12 GB)
        return check_numbers(path, reader(path))
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - zipfile, pickle, torch and NumPy raise many kinds for a bad file
        kind = {_read_npz: ".npz", read_safetensors: ".safetensors"}.get(reader, "PyTorch")
        raise ConfigError(f"{path}: cannot read it as a {kind} state dict: {type(e).__name__}: {e}") from None

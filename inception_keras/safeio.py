"""The one way files are opened: read bounded from regular files only, written whole, never through a link.

Reading (`open_regular`, `read_bytes`, `read_text`): the file is opened with O_NONBLOCK (a FIFO is refused, never
waited on) and checked with fstat: only a regular file is read, and only when it is no larger than the cap of its
kind (`LIMITS`). Formats that declare sizes are checked before anything is allocated: `check_npz` (the members'
uncompressed sizes), `check_safetensors` (the header, every tensor's offsets and the file's length).

Writing (`write_file`, `create_lock`): a new file created exclusively, never through a link, synced; a lock file
reused only when it is a regular file. The rule for the files a command writes (`--plot`, `--out`, `--force`,
temporary name + rename) is `writing`'s, which writes through `write_file`.

This module sits at the bottom (beside `errors`): lang, data, runs, weights, serve and compare all read through it. It
never imports anything of the project but `errors`.
"""
from __future__ import annotations

import json
import os
import re
import stat
import struct
import zipfile

from inception_keras.errors import ConfigError, Problem

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
LIMITS = {  # the largest file of each kind that is read at all
    "yaml": 1 * MiB,  # an architecture, a recipe, a run's config.yaml: a few KB
    "json": 8 * MiB,  # state.json, env.json, checkpoint.json: a few KB
    "csv": 16 * MiB,  # metrics.csv: one row of about 100 bytes per epoch (160,000 epochs)
    "labels": 16 * MiB,  # one class name per line
    "image": 64 * MiB,  # one encoded image file
    "weights": 1 * GiB,  # a state dict (.npz, .safetensors, .pth): GoogLeNet's is 27 MB, Inception v3's 100 MB
    "journal": 256 * MiB,  # a search's study.journal: a few hundred bytes per trial operation
    "idx": 16 * GiB,  # an IDX data set file (its header is checked against the same figure)
}
MAX_PIXELS = 256 * MiB  # bytes an image may decode to (width x height x channels x sample size x frames)
MAX_SAFETENSORS_HEADER = 100 * MiB


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError([Problem(shown(path), "", None, None, message)])


def shown(path) -> str:
    """A file name as it can be printed: bytes that are not UTF-8 (a name from another system) escaped as \\xNN."""
    name = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def open_regular(path: str, what: str = "file", limit: int = LIMITS["yaml"]) -> int:
    """A descriptor of `path` opened for reading, after checking that it is a regular file of at most `limit`
    bytes; anything else (missing, a directory, a FIFO, a device, a socket, too large) is a ConfigError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise _fail(path, f"{what} not found") from None
    except IsADirectoryError:
        raise _fail(path, f"{what} is a directory, not a file") from None
    except OSError as e:
        raise _fail(path, f"cannot read {what}: {e.strerror or e}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _fail(path, f"{what} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise _fail(path, f"{what} is not a regular file (a pipe, device or socket)")
        if info.st_size > limit:
            raise _fail(path, f"{what} is {info.st_size:,} bytes, more than the {limit:,} bytes such a file may have")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_binary(path: str, what: str = "file", limit: int = LIMITS["yaml"]):
    """`open_regular` as a binary file object (for gzip, zipfile, PIL)."""
    return os.fdopen(open_regular(path, what, limit), "rb")


def read_bytes(path: str, what: str = "file", limit: int = LIMITS["yaml"]) -> bytes:
    """The whole of a regular file of at most `limit` bytes (a file that grows while read is cut at the cap)."""
    fd = open_regular(path, what, limit)
    try:
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, 8 * MiB))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise _fail(path, f"cannot read {what}: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise _fail(path, f"{what} is more than the {limit:,} bytes such a file may have")
    return b"".join(chunks)


def read_text(path: str, what: str = "file", limit: int = LIMITS["yaml"]) -> str:
    """`read_bytes` decoded as UTF-8 (anything else is a ConfigError naming the byte)."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _fail(path, f"cannot read {what}: not UTF-8 text ({e.reason} at byte {e.start})") from None


# YAML's printable set (yaml.reader.Reader.NON_PRINTABLE): tab, newlines and the printable planes.
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def control_character(text: str) -> tuple[int, int, str] | None:
    """(line, column, the character as \\xNN) of the first character YAML cannot hold (NUL, BEL, ...), or None."""
    match = _NON_PRINTABLE.search(text)
    if match is None:
        return None
    start = match.start()
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    return line, column, f"\\x{ord(match.group()):02x}"


def printable(text: str) -> str:
    """`text` with the characters a terminal would act on (control characters) written as \\xNN."""
    return _NON_PRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\t", "\\t").replace("\n", "\\n"))


def check_npz(path: str, limit: int | None = None) -> None:
    """Refuse an .npz whose members would expand to more than `limit` bytes (read from the zip's directory,
    before anything is decompressed)."""
    limit = LIMITS["weights"] if limit is None else limit
    try:
        with open_binary(path, ".npz file", limit) as f, zipfile.ZipFile(f) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return  # not a zip at all: NumPy's reader says so in its own words
    total = sum(i.file_size for i in infos)
    if total > limit:
        raise _fail(path, f"the .npz members expand to {total:,} bytes, more than {limit:,}; refused")


_SAFETENSORS_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                      "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E5M2": 1, "F8_E4M3": 1}


def check_safetensors(path: str, limit: int | None = None) -> None:
    """Check a .safetensors file before the library reads it: a bounded JSON header, every tensor's dtype, shape
    and offsets (non-negative, in order, without overlaps or gaps, matching dtype x shape) and a file exactly as
    long as the header declares."""
    limit = LIMITS["weights"] if limit is None else limit
    with open_binary(path, ".safetensors file", limit) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if len(head) < 8:
            raise _fail(path, "not a safetensors file (shorter than its 8-byte header length)")
        (n,) = struct.unpack("<Q", head)
        if n > min(MAX_SAFETENSORS_HEADER, size - 8):
            raise _fail(path, f"not a safetensors file (its header declares {n:,} bytes; the file has {size:,})")
        try:
            header = json.loads(f.read(n))
        except (ValueError, RecursionError) as e:
            raise _fail(path, f"not a safetensors file (bad JSON header: {e})") from None
    if not isinstance(header, dict):
        raise _fail(path, "not a safetensors file (its header is not a JSON object)")
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        spans.append((*_tensor_span(path, name, entry), name))
    end = 0
    for begin, stop, name in sorted(spans):
        if begin != end:
            raise _fail(path, f"tensor '{name}': its data starts at byte {begin:,}, expected {end:,} (overlapping or "
                              "gapped offsets); refused")
        end = stop
    if 8 + n + end != size:
        raise _fail(path, f"the header declares {end:,} bytes of tensor data, the file holds {size - 8 - n:,}; "
                          "refused")


def _tensor_span(path: str, name: str, entry) -> tuple[int, int]:
    """(begin, end) of one tensor's data, after checking its entry."""
    ok = isinstance(entry, dict) and entry.get("dtype") in _SAFETENSORS_SIZES
    shape, offsets = (entry.get("shape"), entry.get("data_offsets")) if isinstance(entry, dict) else (None, None)
    ok = ok and isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)
    ok = ok and isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int and o >= 0 for o in offsets)
    if not ok:
        raise _fail(path, f"tensor '{str(name)[:80]}': needs a known dtype, a shape of sizes >= 0 and two "
                          "offsets >= 0; refused")
    count = 1
    for d in shape:
        count *= d
    begin, end = offsets
    if end - begin != count * _SAFETENSORS_SIZES[entry["dtype"]]:
        raise _fail(path, f"tensor '{str(name)[:80]}': offsets {begin}..{end} do not hold {entry['dtype']} "
                          f"{shape}; refused")
    return begin, end


def check_image_size(path: str, width: int, height: int, channels: int, frames: int = 1) -> None:
    """Refuse an image whose decoded size (from its header) is more than MAX_PIXELS bytes."""
    total = width * height * max(channels, 1) * max(frames, 1)
    if total > MAX_PIXELS:
        raise _fail(path, f"a {width}x{height} image ({channels} channel(s), {frames} frame(s)) decodes to "
                          f"{total:,} bytes, more than {MAX_PIXELS:,}; refused")


# ---- writing ----

_STALE = re.compile(r"^\.tmp-(\d+)-.")  # writing.output's temporaries (never `.old-`: a user's file set aside)
STALE_SECONDS = 60  # a temporary file untouched this long whose process is gone is a leftover


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process (or not a pid we can ask about): leave its file alone
    return True


def remove_stale(folder: str) -> list[str]:
    """Remove the `.tmp-PID-NAME` files (and folders) that `output` left in `folder` when its process was killed
    (kill -9, out of memory): only those whose PID no longer runs on this machine and which nobody touched for
    STALE_SECONDS (a writer on another machine sharing the folder keeps its file's time fresh). Returns them."""
    import shutil
    import time

    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _STALE.match(name)
        if not match or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        path = os.path.join(folder, name)
        try:
            info = os.lstat(path)
            if time.time() - info.st_mtime < STALE_SECONDS:
                continue
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(path)
            elif stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
                os.remove(path)
            else:
                continue  # a FIFO or device of that name is nobody's temporary file of ours
        except OSError:
            continue
        removed.append(path)
    return removed


def write_file(path: str, data: bytes | str) -> None:
    """Create `path` (which must not exist: O_EXCL, O_NOFOLLOW) and write `data` to it, synced."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def create_lock(path: str) -> int:
    """A descriptor of the lock file `path` for flock: created exclusively when missing; an existing one (left by
    a killed trainer) is reused only when it is a regular file, never a link, a FIFO or a folder."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        pass
    except OSError as e:
        raise _fail(path, f"cannot create the lock file: {e.strerror or e}") from None
    try:
        fd = os.open(path, flags)
    except OSError as e:
        kind = "a symbolic link" if os.path.islink(path) else "a folder" if os.path.isdir(path) else "unusable"
        raise _fail(path, f"the lock file is {kind} ({e.strerror or e}); refused: remove it if no trainer "
                          "runs here") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _fail(path, "the lock file is not a regular file (a pipe, device or socket); refused: remove it if "
                          "no trainer runs here")
    return fd

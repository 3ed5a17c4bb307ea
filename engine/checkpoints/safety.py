"""Reading a model file without trusting it: only regular files, bounded sizes, tensors checked before use.

Why: `--model` may name a FIFO (reading blocks forever), a link to /dev/zero (reading never ends), a 1 MB
deflate zip bomb (torch inflates every member in memory before it notices anything), or a state dict whose keys
and tensors make the loader build or copy far more than the file holds. Each check here runs before the
expensive step it guards and raises a CheckpointError that names the file.
"""
from __future__ import annotations

import io
import os
import re
import stat
import struct
import zipfile
from pathlib import Path

import torch

from engine.errors import CheckpointError
from engine.limits import MAX_CHECKPOINT_BYTES, MAX_ZIP_EXPANSION

MAX_KEYS = 100_000           # ResNet-101 with MSC has about 1,600 tensors
MAX_KEY_LENGTH = 512
MAX_ZIP_MEMBERS = 200_000
_BLOCK_KEY = re.compile(r"\.block(\d+)\.")


def read_model_file(path: Path, limit: int = MAX_CHECKPOINT_BYTES) -> bytes:
    """The whole file, if it is a regular file of at most `limit` bytes; refused unread otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: model file not found") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a folder, expected a model file (.pt/.pth/.caffemodel)") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the model file: {e.strerror or e}") from e
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise CheckpointError(f"{path}: is a folder, expected a model file (.pt/.pth/.caffemodel)")
        if not stat.S_ISREG(st.st_mode):
            kind = "a pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else (
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file")
            raise CheckpointError(f"{path}: is {kind}, not a model file; it was not read. Pass the "
                                  f".pt/.pth/.caffemodel file itself")
        if st.st_size > limit:
            raise CheckpointError(f"{path}: the file is {st.st_size / 2**30:.1f} GiB; model files over "
                                  f"{limit / 2**30:.0f} GiB are refused (DeepLab checkpoints are under 0.5 GiB)")
        chunks, left = [], st.st_size
        while left > 0:
            chunk = os.read(fd, min(left, 16 << 20))
            if not chunk:
                break  # the file shrank while we read it: what we have is checked like any truncated file
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the model file: {e.strerror or e}") from e
    finally:
        os.close(fd)


def check_zip_members(data: bytes, path: Path) -> None:
    """A torch zip checkpoint may not expand far beyond its own size (torch.save stores members uncompressed)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, KeyError,
            IndexError, OverflowError, NotImplementedError, RuntimeError, struct.error) as e:
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint: the zip archive is incomplete "
                              f"or damaged (truncated download or copy?): {e}") from e
    if len(infos) > MAX_ZIP_MEMBERS:
        raise CheckpointError(f"{path}: the zip archive has {len(infos):,} members; a checkpoint has a few "
                              f"thousand at most")
    total = sum(max(0, int(i.file_size)) for i in infos)
    allowed = MAX_ZIP_EXPANSION * len(data) + (1 << 20)
    if total > allowed:
        raise CheckpointError(
            f"{path}: the zip archive would expand to {total / 1e6:,.1f} MB from {len(data) / 1e6:.1f} MB "
            f"(a zip bomb?); PyTorch checkpoints are stored uncompressed, so it was not loaded")


def check_state_dict(sd: dict, path: Path) -> None:
    """Keys are short strings with sane block numbers; tensors are dense CPU ones, real, and finite if float."""
    if len(sd) > MAX_KEYS:
        raise CheckpointError(f"{path}: the state dict has {len(sd):,} entries; a DeepLab model has about 2,000")
    for key, value in sd.items():
        if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH:
            raise CheckpointError(f"{path}: the state dict has a key that is not a short string: {key!r:.80}")
        for num in _BLOCK_KEY.findall(key):
            if len(num) > 3:
                raise CheckpointError(f"{path}: key {key[:120]!r} names block {num[:12]}; ResNet stages have at "
                                      f"most a few dozen blocks, so the file is refused before building anything")
        if not isinstance(value, torch.Tensor):
            continue  # fit_state_dict reports non-tensors under model keys; others are ignored or unexpected
        if value.layout != torch.strided or value.is_quantized or value.device.type != "cpu":
            raise CheckpointError(f"{path}: tensor {key!r} is {value.layout}/{value.device.type}"
                                  f"{' quantized' if value.is_quantized else ''}; only dense CPU tensors are read")
        if value.is_floating_point():
            if value.numel() and not bool(torch.isfinite(value).all()):
                raise CheckpointError(f"{path}: tensor {key!r} contains NaN or infinity: the weights are broken "
                                      f"and every prediction would be garbage")
            if key.endswith("running_var") and value.numel() and bool((value < 0).any()):
                raise CheckpointError(f"{path}: BatchNorm variance {key!r} has negative values: the statistics "
                                      f"are broken (every prediction would be NaN)")
        elif value.is_complex():
            raise CheckpointError(f"{path}: tensor {key!r} has dtype {value.dtype}; weights must be real numbers")

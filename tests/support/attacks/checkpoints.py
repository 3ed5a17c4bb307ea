"""Hostile model files of the attack run, each a few KB (a zip bomb's 1 MB) and built in milliseconds."""
from __future__ import annotations

import io
import os
import pickle
import struct
import zlib
from collections import OrderedDict
from pathlib import Path

import torch

from engine.checkpoints.own_format import FORMAT
from tests.support.attacks.bombs import zero_deflate


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, wt: int, payload: bytes) -> bytes:
    key = _varint((num << 3) | wt)
    return key + (_varint(len(payload)) + payload if wt == 2 else payload)


def caffemodel_blob_dims(dims=(2 ** 62, 4)) -> bytes:
    """NetParameter { layer { name "conv1_1" type "Convolution" blobs { shape { dim: dims } data: [] } } }."""
    shape = _field(1, 2, b"".join(_varint(d) for d in dims))         # packed int64 dims
    blob = _field(7, 2, shape) + _field(5, 2, b"")                   # BlobShape, empty packed data
    layer = _field(1, 2, b"conv1_1") + _field(2, 2, b"Convolution") + _field(7, 2, blob)
    return _field(100, 2, layer) + _field(100, 2, _field(1, 2, b"fc6") + _field(7, 2, blob))


def pth_block_key(block: int = 200000) -> bytes:
    """A kazuto-layout state dict (18 KB) with one key naming a huge block index."""
    sd = {"base.layer1.conv1.conv.weight": torch.zeros(8, 3, 7, 7),
          "base.aspp.c0.weight": torch.zeros(3, 256, 3, 3),
          f"base.layer4.block{block}.x": torch.zeros(1)}
    buf = io.BytesIO()
    torch.save(sd, buf)
    return buf.getvalue()


def pt_with_spec(**spec_changes) -> bytes:
    """A project-format file whose stored spec is changed (the weights are a token tensor)."""
    spec = {"arch": "deeplab_v1_largefov", "n_classes": 3,
            "arch_kwargs": {"channels": [8, 8, 16, 16, 16], "fc_channels": 16}, "name": "hostile"}
    for key, value in spec_changes.items():
        if key in ("channels", "fc_channels", "blocks"):
            spec["arch_kwargs"][key] = value
        else:
            spec[key] = value
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "spec": spec, "state_dict": {"fc8.weight": torch.zeros(1)}}, buf)
    return buf.getvalue()


def pt_nan_weights(valid_checkpoint: Path) -> bytes:
    """A real project checkpoint with one weight turned NaN."""
    obj = torch.load(valid_checkpoint, weights_only=True)
    obj["state_dict"]["fc8.weight"][0, 0, 0, 0] = float("nan")
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def pt_zip_bomb(inflated: int = 1 << 30) -> bytes:
    """A torch-style zip whose data.pkl member is `inflated` zero bytes deflated to about 1 MB."""
    raw = zero_deflate(inflated)[2:-4]  # zlib stream -> raw deflate (no header, no Adler-32)
    crc = 0
    chunk = b"\0" * (16 << 20)
    for _ in range(inflated // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(b"\0" * (inflated % len(chunk)), crc)
    members = [("archive/data.pkl", 8, raw, crc, inflated), ("archive/version", 0, b"3\n", zlib.crc32(b"3\n"), 2)]
    out, central = bytearray(), bytearray()
    for name, method, data, crc_, size in members:
        offset = len(out)
        n = name.encode()
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc_, len(data), size, len(n), 0)
        out += n + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc_, len(data), size,
                               len(n), 0, 0, 0, 0, 0, offset) + n
    start = len(out)
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0)
    return bytes(out)


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _Storage:
    def __init__(self, numel):
        self.numel = numel


class _Tensor:
    def __init__(self, numel):
        self.numel = numel

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (_Storage(self.numel), 0, (self.numel,), (1,), False, OrderedDict()))


class _LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", torch.FloatStorage, "0", "cpu", obj.numel, None)
        return None


def legacy_pth_declaring(numel: int = 10 ** 9) -> bytes:
    """The legacy (pre-zip) torch format, declaring a storage of `numel` floats and holding almost none."""
    buf = io.BytesIO()
    for value in (_LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True,
                                         "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(value, buf, protocol=2)
    _LegacyPickler(buf, protocol=2).dump({"conv1_1.weight": _Tensor(numel)})
    pickle.dump(["0"], buf, protocol=2)
    buf.write(numel.to_bytes(8, "little") + b"\0" * 64)
    return buf.getvalue()


def special_files(folder: Path) -> dict[str, Path]:
    """A FIFO, a symlink to /dev/zero and a folder, each named like a checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    fifo = folder / "fifo.pt"
    if not fifo.exists():
        os.mkfifo(fifo)
    zero = folder / "zero.pth"
    if not zero.is_symlink():
        zero.symlink_to("/dev/zero")
    directory = folder / "dir.caffemodel"
    directory.mkdir(exist_ok=True)
    return {"fifo": fifo, "dev-zero": zero, "directory": directory}


def corpus(folder: Path, valid_checkpoint: Path) -> dict[str, Path]:
    """Every hostile checkpoint of the attack run (and a few more of the same kinds), written into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "block200000.pth": pth_block_key(),
        "fc_channels_32768.pt": pt_with_spec(fc_channels=32768),
        "classes_3M.pt": pt_with_spec(n_classes=3_000_000),
        "classes_256.pt": pt_with_spec(n_classes=256),
        "channels_4096.pt": pt_with_spec(channels=[4096] * 5, fc_channels=8192),
        "input_size_huge.pt": pt_with_spec(input_size=10 ** 9),
        "mean_inf.pt": pt_with_spec(mean_bgr=[float("inf"), 0.0, 0.0]),
        "palette_999.pt": pt_with_spec(palette=[[999, 0, 0]] * 3),
        "nested_kwargs.pt": pt_with_spec(fc_channels=[[[[1]]]]),
        "v2_blocks.pt": pt_with_spec(arch="deeplab_v2_resnet101", arch_kwargs={"blocks": [3, 4, 200000, 3]}),
        "blob_dims_2p62.caffemodel": caffemodel_blob_dims(),
        "blob_dims_many.caffemodel": caffemodel_blob_dims(dims=tuple([2] * 40)),
        "zip_bomb.pt": pt_zip_bomb(),
        "legacy_1e9_floats.pth": legacy_pth_declaring(),
        "nan_weights.pt": pt_nan_weights(valid_checkpoint),
    }
    paths = {}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths[name] = folder / name
    paths.update(special_files(folder))
    return paths

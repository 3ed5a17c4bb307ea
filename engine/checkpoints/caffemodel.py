"""Read Caffe .caffemodel files by walking the protobuf wire format (no Caffe, no protoc).

Why hand-rolled: the DeepLab v1 files use the legacy `layers` field (2) with the v1 layer
message, the v2 files the new `layer` field (100); one small reader handles both, and reading
the bytes directly avoids the old 64 MB message limit of some protobuf builds. Field numbers
are in /work/shared/reference/deeplab.md §7. Only names, types, blobs, the convolution
geometry and BatchNorm's eps are kept.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# wire types
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# DeepLab v1 LayerParameter.LayerType enum values that matter here (v1 proto; see §7).
_V1_TYPES = {4: "Convolution", 6: "Dropout", 14: "InnerProduct", 17: "Pooling", 18: "ReLU",
             25: "Eltwise", 41: "Interp", 45: "DenseCRF"}


MAX_LAYERS = 20_000      # DeepLab v2 with its MSC copies has about 1,500
MAX_BLOBS = 16           # per layer (conv: 2, BatchNorm: 3)
MAX_DIMS = 8
MAX_DIM = 1 << 31


class CaffeFormatError(ValueError):
    """The bytes are not a well-formed caffe.NetParameter."""


@dataclass
class CaffeLayer:
    """One layer: its blobs as float32 arrays in their stored shape, and conv geometry if any."""
    name: str
    type: str
    blobs: list[np.ndarray] = field(default_factory=list)
    conv: dict[str, int] = field(default_factory=dict)  # kernel/stride/pad/dilation if stored
    legacy: bool = False  # True for the v1 `layers` (field 2) message
    bn_eps: float | None = None  # BatchNormParameter.eps if stored (Caffe's default is 1e-5)


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise CaffeFormatError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CaffeFormatError("varint longer than 10 bytes")


def iter_fields(buf: memoryview, start: int = 0, end: int | None = None):
    """Yield (field_number, wire_type, value) over one message; LEN values are (start, end)."""
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise CaffeFormatError(f"field number 0 at byte {pos}")
        if wt == _VARINT:
            value, pos = _varint(buf, pos, end)
        elif wt == _LEN:
            n, pos = _varint(buf, pos, end)
            if pos + n > end:
                raise CaffeFormatError(f"length-delimited field {num} runs past the end of its message")
            value, pos = (pos, pos + n), pos + n
        elif wt == _I32:
            if pos + 4 > end:
                raise CaffeFormatError("truncated 32-bit field")
            value, pos = bytes(buf[pos:pos + 4]), pos + 4
        elif wt == _I64:
            if pos + 8 > end:
                raise CaffeFormatError("truncated 64-bit field")
            value, pos = bytes(buf[pos:pos + 8]), pos + 8
        else:
            raise CaffeFormatError(f"unsupported wire type {wt} (field {num}) at byte {pos}")
        yield num, wt, value


def _text(buf: memoryview, span) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8", errors="replace")


def _packed_varints(buf, wt, value, limit: int = MAX_DIMS) -> list[int]:
    """Values of a (packed) repeated varint field; more than `limit` is a format error, not a long list."""
    if wt == _VARINT:
        return [value]
    if wt != _LEN:
        raise CaffeFormatError(f"repeated integer field with wire type {wt}")
    out, pos = [], value[0]
    while pos < value[1]:
        v, pos = _varint(buf, pos, value[1])
        out.append(v)
        if len(out) > limit:
            raise CaffeFormatError(f"more than {limit} values in a shape or geometry field")
    return out


def _parse_blob(buf: memoryview, span) -> np.ndarray:
    """BlobProto -> float32 array; shape from BlobShape (7) or legacy num/channels/height/width."""
    legacy = {}
    dims: list[int] = []
    packed: list[np.ndarray] = []
    single = {"<f4": bytearray(), "<f8": bytearray()}  # unpacked values: one buffer each, not an object per value
    for num, wt, value in iter_fields(buf, *span):
        if num in (1, 2, 3, 4) and wt == _VARINT:
            legacy[num] = value
        elif num == 7 and wt == _LEN:  # BlobShape { repeated int64 dim = 1 [packed] }
            for n2, wt2, v2 in iter_fields(buf, *value):
                if n2 == 1:
                    dims.extend(_packed_varints(buf, wt2, v2))
                    if len(dims) > MAX_DIMS:
                        raise CaffeFormatError(f"blob shape has more than {MAX_DIMS} dimensions")
        elif num in (5, 8):  # data (float) / double_data (double)
            dtype = "<f8" if num == 8 else "<f4"
            width = 8 if num == 8 else 4
            if wt == _LEN:
                if (value[1] - value[0]) % width:
                    raise CaffeFormatError("packed float data length is not a multiple of its size")
                packed.append(np.frombuffer(buf[value[0]:value[1]], dtype=dtype))
            elif wt == (_I64 if num == 8 else _I32):
                single[dtype] += value
            else:
                raise CaffeFormatError(f"blob data field {num} has wire type {wt}")
    for dtype, raw in single.items():
        if raw:
            packed.append(np.frombuffer(bytes(raw), dtype=dtype))
    if len({p.dtype for p in packed}) > 1:
        raise CaffeFormatError("blob mixes float and double data")
    with np.errstate(over="ignore"):  # a double beyond float32 becomes inf: refused with the weights' check
        data = (np.concatenate(packed) if packed else np.zeros(0)).astype(np.float32)
    if dims:
        shape = tuple(dims)
    elif legacy:
        shape = tuple(legacy.get(i, 1) for i in (1, 2, 3, 4))
    else:
        shape = (data.size,)
    if any(not 0 <= d <= MAX_DIM for d in shape):
        raise CaffeFormatError(f"blob declares a dimension outside 0..2^31: {shape}")
    if math.prod(shape) != data.size:  # Python integers: [2^62, 4] cannot wrap around to a small number
        raise CaffeFormatError(f"blob declares shape {shape} but holds {data.size} values")
    return data.reshape(shape)


def _parse_conv_param(buf, span, legacy: bool) -> dict[str, int]:
    """kernel/stride/pad/dilation actually stored (absent fields are left out). DeepLab v1 calls dilation
    `hole` (17); a v1 file written with v2's field number 18 (v1's hole_h, the same value for square holes) is
    read too."""
    names = {3: "pad", 4: "kernel", 6: "stride", 18: "dilation"}
    if legacy:
        names[17] = "hole"
    out: dict[str, int] = {}
    for num, wt, value in iter_fields(buf, *span):
        if num in names and wt in (_VARINT, _LEN):
            vals = _packed_varints(buf, wt, value)
            if vals:
                out[names[num]] = vals[0]
    if "hole" in out:
        out["dilation"] = out.pop("hole")
    return out


def _parse_bn_eps(buf, span) -> float | None:
    """BatchNormParameter { optional float eps = 3 }: the value Caffe adds to the variance."""
    eps = None
    for num, wt, value in iter_fields(buf, *span):
        if num == 3 and wt == _I32:
            eps = float(np.frombuffer(value, dtype="<f4")[0])
    return eps


def _parse_layer(buf, span, legacy: bool) -> CaffeLayer:
    # new LayerParameter: name 1, type 2 (string), blobs 7, convolution_param 106
    # v1 LayerParameter: name 4, type 5 (enum), blobs 6, convolution_param 10, V0 layer 1
    name_f, type_f, blobs_f, conv_f = (4, 5, 6, 10) if legacy else (1, 2, 7, 106)
    layer = CaffeLayer(name="", type="", legacy=legacy)
    for num, wt, value in iter_fields(buf, *span):
        if num == name_f and wt == _LEN:
            layer.name = _text(buf, value)
        elif num == type_f:
            layer.type = _V1_TYPES.get(value, str(value)) if wt == _VARINT else _text(buf, value)
        elif num == blobs_f and wt == _LEN:
            if len(layer.blobs) >= MAX_BLOBS:
                raise CaffeFormatError(f"layer {layer.name!r} has more than {MAX_BLOBS} blobs")
            layer.blobs.append(_parse_blob(buf, value))
        elif num == conv_f and wt == _LEN:
            layer.conv = _parse_conv_param(buf, value, legacy)
        elif not legacy and num == 139 and wt == _LEN:  # batch_norm_param
            layer.bn_eps = _parse_bn_eps(buf, value)
        elif legacy and num == 1 and wt == _LEN:  # V0LayerParameter: name 1, type 2, blobs 50
            for n2, wt2, v2 in iter_fields(buf, *value):
                if n2 == 1 and wt2 == _LEN and not layer.name:
                    layer.name = _text(buf, v2)
                elif n2 == 2 and wt2 == _LEN and not layer.type:
                    layer.type = _text(buf, v2)
                elif n2 == 50 and wt2 == _LEN:
                    if len(layer.blobs) >= MAX_BLOBS:
                        raise CaffeFormatError(f"layer {layer.name!r} has more than {MAX_BLOBS} blobs")
                    layer.blobs.append(_parse_blob(buf, v2))
    return layer


def parse_caffemodel(data: bytes) -> list[CaffeLayer]:
    """All layers of a serialized NetParameter, legacy `layers` (2) and new `layer` (100)."""
    buf = memoryview(data)
    layers = []
    seen = 0
    for num, wt, value in iter_fields(buf):
        if num in (2, 100) and wt == _LEN:
            seen += 1
            if seen > MAX_LAYERS:
                raise CaffeFormatError(f"more than {MAX_LAYERS} layers; a DeepLab net has under 2,000")
            layers.append(_parse_layer(buf, value, legacy=(num == 2)))
    return layers

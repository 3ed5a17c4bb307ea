"""A minimal protobuf wire-format writer for DeepLab ``.caffemodel`` fixtures (no protobuf/Caffe needed).

Field numbers are transcribed from the two Caffe protos:
- DeepLab v1 (TheLegendAli/DeepLab-Context ``src/caffe/proto/caffe.proto``): NetParameter ``layers = 2``;
  LayerParameter bottom 2, top 3, name 4, type 5 (enum: CONVOLUTION 4, DROPOUT 6, POOLING 17, RELU 18,
  SOFTMAX_LOSS 21, SILENCE 36, IMAGE_SEG_DATA 39, INTERP 41), blobs 6, blobs_lr 7, weight_decay 8,
  convolution_param 10, dropout_param 12, pooling_param 19, interp_param 43; ConvolutionParameter num_output 1,
  pad 3, kernel_size 4, stride 6, hole 17 (v2's ``dilation`` is 18, which the v1 proto calls hole_h);
  BlobProto num 1, channels 2, height 3, width 4, data 5 (packed float).
- DeepLab v2 (DrSleep/deeplab-public-ver2 ``src/caffe/proto/caffe.proto``): NetParameter ``layer = 100``;
  LayerParameter name 1, type 2 (string), bottom 3, top 4, param 6 (ParamSpec name 1, lr_mult 3, decay_mult 4),
  blobs 7, convolution_param 106 (num_output 1, bias_term 2, pad 3, kernel_size 4, stride 6, dilation 18),
  batch_norm_param 139 (use_global_stats 1, moving_average_fraction 2, eps 3), eltwise_param 110 (operation 1:
  SUM 1, MAX 2), interp_param 143 (zoom_factor 3, shrink_factor 4, pad_beg 5, pad_end 6), pooling_param 121
  (pool 1, kernel_size 2, stride 3, pad 4), scale_param 142 (bias_term 4); BlobProto shape 7 (BlobShape dim 1,
  packed int64), data 5.
Wire format (protobuf encoding spec): key = varint(field << 3 | wire type); 0 varint, 2 length-delimited,
5 fixed32. Packed repeated scalars are one length-delimited field.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from tests.support.pipeline_reference.resnet_aspp import ASPP_RATES, CaffeBN, resnet_layout
from tests.support.pipeline_reference.vgg_largefov import LAYERS as VGG_LAYERS

# --------------------------------------------------------------------------------------------- wire format


def varint(n: int) -> bytes:
    """Base-128 varint (protobuf encoding spec, "Base 128 Varints")."""
    if n < 0:
        n += 1 << 64  # int32/int64 negatives are 10-byte two's complement varints
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(field: int, wire_type: int) -> bytes:
    """Field key ``(field_number << 3) | wire_type`` (protobuf encoding spec, "Message Structure")."""
    return varint((field << 3) | wire_type)


def f_varint(field: int, value: int) -> bytes:
    return key(field, 0) + varint(int(value))


def f_bytes(field: int, payload: bytes) -> bytes:
    return key(field, 2) + varint(len(payload)) + payload


def f_string(field: int, text: str) -> bytes:
    return f_bytes(field, text.encode("utf-8"))


def f_float(field: int, value: float) -> bytes:
    return key(field, 5) + struct.pack("<f", value)


def f_packed_floats(field: int, values: np.ndarray) -> bytes:
    """``repeated float ... [packed = true]`` (BlobProto.data = 5): one length-delimited run of little-endian f32."""
    return f_bytes(field, np.ascontiguousarray(values, dtype="<f4").tobytes())


def f_packed_varints(field: int, values) -> bytes:
    return f_bytes(field, b"".join(varint(int(v)) for v in values))


# --------------------------------------------------------------------------------------------- messages


def blob_legacy(array: np.ndarray) -> bytes:
    """BlobProto with the deprecated num/channels/height/width (how DeepLab v1 Caffe saves), left-padded to 4-D
    with 1s (a bias of N is (1, 1, 1, N), as in legacy files)."""
    shape = (1,) * (4 - array.ndim) + tuple(array.shape)
    head = b"".join(f_varint(i + 1, d) for i, d in enumerate(shape))
    return head + f_packed_floats(5, array.reshape(-1))


def blob_shaped(array: np.ndarray) -> bytes:
    """BlobProto with ``shape`` (BlobShape.dim, packed int64), as new-style Caffe saves."""
    return f_bytes(7, f_packed_varints(1, array.shape)) + f_packed_floats(5, array.reshape(-1))


# v1 LayerType enum values (DeepLab v1 caffe.proto)
V1_CONVOLUTION, V1_DROPOUT, V1_POOLING, V1_RELU, V1_SOFTMAX_LOSS, V1_INTERP = 4, 6, 17, 18, 21, 41
V1_IMAGE_SEG_DATA = 39


def v1_layer(name: str, type_enum: int, bottoms=(), tops=(), blobs=(), extra: bytes = b"") -> bytes:
    """One DeepLab v1 ``LayerParameter`` inside ``NetParameter.layers`` (field 2), v1 caffe.proto numbering."""
    body = b"".join(f_string(2, b) for b in bottoms) + b"".join(f_string(3, t) for t in tops)
    body += f_string(4, name) + f_varint(5, type_enum)
    body += b"".join(f_bytes(6, blob_legacy(b)) for b in blobs)
    if blobs:
        body += f_float(7, 1.0) + f_float(7, 2.0) + f_float(8, 1.0) + f_float(8, 0.0)  # blobs_lr, weight_decay
    return f_bytes(2, body + extra)  # NetParameter.layers = 2


def v2_layer(name: str, type_name: str, bottoms=(), tops=(), blobs=(), params=(), extra: bytes = b"") -> bytes:
    """One v2 ``LayerParameter`` inside ``NetParameter.layer`` (field 100), v2 caffe.proto numbering."""
    body = f_string(1, name) + f_string(2, type_name)
    body += b"".join(f_string(3, b) for b in bottoms) + b"".join(f_string(4, t) for t in tops)
    body += b"".join(f_bytes(6, f_string(1, p) + f_float(3, 1.0) + f_float(4, 1.0)) for p in params)
    body += b"".join(f_bytes(7, blob_shaped(b)) for b in blobs)
    return f_bytes(100, body + extra)  # NetParameter.layer = 100


# --------------------------------------------------------------------------------------------- v1 LargeFOV


def v1_largefov_chunks(weights: dict[str, tuple[np.ndarray, np.ndarray]], *, fc8_name: str = "fc8_voc12",
                       dilation_field: str = "hole") -> list[bytes]:
    """A DeepLab v1 LargeFOV caffemodel in the legacy ``layers`` format, following test.prototxt's layers
    (data, conv/relu, pools incl. pool5a, fc6/7 with dropout, fc8, fc8_interp) with conv blobs [w, b].

    ``dilation_field``: "hole" (field 17, DeepLab v1) or "dilation" (field 18, v2 proto's ConvolutionParameter).
    """
    field = {"hole": 17, "dilation": 18}[dilation_field]
    out = [f_string(1, "deeplab_largeFOV")]
    out.append(v1_layer("data", V1_IMAGE_SEG_DATA, tops=("data", "label")))
    bottom = "data"
    for name, kind, k, s, p, d in VGG_LAYERS:
        cname = fc8_name if name == "fc8" else name
        if kind == "conv":
            w, b = weights[name]
            conv = f_varint(1, w.shape[0]) + (f_varint(3, p) if p else b"") + f_varint(4, k)
            conv += f_varint(6, s) if s != 1 else b""
            conv += f_varint(field, d) if d != 1 else b""
            out.append(v1_layer(cname, V1_CONVOLUTION, (bottom,), (cname,), (w, b.reshape(-1)), f_bytes(10, conv)))
            bottom = cname
            if name != "fc8":
                relu = {"fc6": "relu6", "fc7": "relu7"}.get(name, "relu" + name[4:])
                out.append(v1_layer(relu, V1_RELU, (bottom,), (bottom,)))
            if name in ("fc6", "fc7"):
                drop = f_bytes(12, f_float(1, 0.5))
                out.append(v1_layer("drop" + name[2:], V1_DROPOUT, (bottom,), (bottom,), extra=drop))
        else:
            pool = f_varint(1, 0 if kind == "max" else 1) + f_varint(2, k) + f_varint(3, s) + f_varint(4, p)
            out.append(v1_layer(name, V1_POOLING, (bottom,), (name,), extra=f_bytes(19, pool)))
            bottom = name
    out.append(v1_layer("fc8_interp", V1_INTERP, (bottom,), ("fc8_interp",), extra=f_bytes(43, f_varint(3, 8))))
    out.append(v1_layer("loss", V1_SOFTMAX_LOSS, (bottom, "label"), ("loss",)))
    return out


# --------------------------------------------------------------------------------------------- v2 ResNet MSC


def _bn_param(eps: float | None) -> bytes:
    body = f_varint(1, 1)  # use_global_stats: true
    if eps is not None:
        body += f_float(3, eps)
    return f_bytes(139, body)


def _conv_param(num_output: int, k: int, s: int, p: int, d: int, bias: bool) -> bytes:
    body = f_varint(1, num_output) + (b"" if bias else f_varint(2, 0))
    body += f_varint(3, p) + f_varint(4, k) + f_varint(6, s)
    body += f_varint(18, d) if d != 1 else b""
    return f_bytes(106, body)


def _resnet_branch(net, suffix: str, data: str, eps_written: dict[str, float | None], exp: str) -> list[bytes]:
    """The layers of one resolution branch (suffix "", "_res075" or "_res05"), named and wired as in the
    prototxt (``res2a_branch2a_res05``, ``res2a_relu_res05``...) and weight-shared through ParamSpec names
    (``param { name: "res2a_branch2a_0" }``)."""
    out = []  # one branch's layers; the blob bytes dominate
    bottom = data
    for gi, group in enumerate(resnet_layout(net.n_blocks)):
        block_in, shortcut = bottom, bottom
        for spec in group:
            w = net.convs[spec.caffe_conv]
            bn = net.bns[spec.caffe_bn]
            gamma, beta = net.scales[spec.caffe_scale]
            first = spec.caffe_conv.endswith(("branch1", "branch2a")) or gi == 0  # reads the block input
            top = spec.caffe_conv + suffix
            out.append(v2_layer(top, "Convolution", (block_in if first else bottom,), (top,), (w,),
                                (spec.caffe_conv + "_0",),
                                _conv_param(w.shape[0], spec.kernel, spec.stride, spec.pad, spec.dilation, False)))
            out.append(v2_layer(spec.caffe_bn + suffix, "BatchNorm", (top,), (top,),
                                (bn.mean_s, bn.var_s, np.asarray([bn.s], np.float32)),
                                tuple(f"{spec.caffe_bn}_{i}" for i in range(3)), _bn_param(eps_written[spec.caffe_bn])))
            out.append(v2_layer(spec.caffe_scale + suffix, "Scale", (top,), (top,), (gamma, beta),
                                (spec.caffe_scale + "_0", spec.caffe_scale + "_1"), f_bytes(142, f_varint(4, 1))))
            if spec.relu:
                out.append(v2_layer(spec.caffe_conv + "_relu" + suffix, "ReLU", (top,), (top,)))
            if spec.caffe_conv.endswith("branch1"):
                shortcut = top
            else:
                bottom = top
        if gi == 0:  # stem: conv1 -> pool1
            pool = f_varint(1, 0) + f_varint(2, 3) + f_varint(3, 2) + f_varint(4, 1)  # MAX k3 s2 p1
            out.append(v2_layer("pool1" + suffix, "Pooling", (bottom,), ("pool1" + suffix,), extra=f_bytes(121, pool)))
            bottom = "pool1" + suffix
        else:  # Eltwise SUM (default operation) of the shortcut and branch2c, then ReLU
            block = group[-1].caffe_conv.split("_")[0]  # res2a
            out.append(v2_layer(block + suffix, "Eltwise", (shortcut, bottom), (block + suffix,)))
            out.append(v2_layer(block + "_relu" + suffix, "ReLU", (block + suffix,), (block + suffix,)))
            bottom = block + suffix
    c_tops = []
    for i, ((w, b), r) in enumerate(zip(net.aspp, ASPP_RATES)):
        name = f"fc1_{exp}{suffix}_c{i}"
        out.append(v2_layer(name, "Convolution", (bottom,), (name,), (w, b.reshape(-1)),
                            (f"fc1_{exp}_c{i}_w", f"fc1_{exp}_c{i}_b"), _conv_param(w.shape[0], 3, 1, r, r, True)))
        c_tops.append(name)
    out.append(v2_layer(f"fc1_{exp}{suffix}", "Eltwise", tuple(c_tops), (f"fc1_{exp}{suffix}",),
                        extra=f_bytes(110, f_varint(1, 1))))  # operation: SUM
    return out


def _interp(name: str, bottom: str, **p) -> bytes:
    fields = {"zoom_factor": 3, "shrink_factor": 4, "pad_beg": 5, "pad_end": 6}
    body = b"".join(f_varint(fields[k], v) for k, v in p.items())
    return v2_layer(name, "Interp", (bottom,), (name,), extra=f_bytes(143, body))


def v2_resnet_msc_chunks(net, *, eps_written: dict[str, float | None] | None = None, msc_copies: bool = True,
                         exp: str = "voc12"):
    """A DeepLab v2 ResNet-101 MSC caffemodel in the new ``layer`` format, layered like resnet101/test.prototxt:
    data, data_res05/data_res075 Interps, the resolution-1 branch, the _res05 and _res075 copies (same blobs,
    shared ParamSpec names), per-branch ASPP sums, the score Interps, fc_fusion (Eltwise MAX), fc1_interp.

    ``eps_written`` maps BN names to the eps written in batch_norm_param (None: field omitted, Caffe default
    1e-5); by default each layer's ``CaffeBN.eps``.
    """
    if eps_written is None:
        eps_written = {name: bn.eps for name, bn in net.bns.items()}
    yield f_string(1, "deeplab_resnet101_msc")
    yield v2_layer("data", "ImageSegData", (), ("data", "label", "data_dim"))
    if msc_copies:
        yield _interp("data_res05", "data", shrink_factor=2, pad_beg=0, pad_end=0)
        yield _interp("data_res075", "data", shrink_factor=4, zoom_factor=3, pad_beg=0, pad_end=0)
    yield from _resnet_branch(net, "", "data", eps_written, exp)
    if msc_copies:  # the copies come after the resolution-1 branch, as in the prototxt
        yield from _resnet_branch(net, "_res05", "data_res05", eps_written, exp)
        yield from _resnet_branch(net, "_res075", "data_res075", eps_written, exp)
        yield _interp(f"fc1_{exp}_res05_interp", f"fc1_{exp}_res05", zoom_factor=2, pad_beg=0, pad_end=0)
        yield _interp(f"fc1_{exp}_res075_interp", f"fc1_{exp}_res075", zoom_factor=4, shrink_factor=3,
                      pad_beg=0, pad_end=0)
        yield v2_layer("fc_fusion", "Eltwise", (f"fc1_{exp}", f"fc1_{exp}_res075_interp",
                                                f"fc1_{exp}_res05_interp"), ("fc_fusion",),
                       extra=f_bytes(110, f_varint(1, 2)))
        yield _interp("fc1_interp", "fc_fusion", zoom_factor=8)
    else:
        yield _interp("fc1_interp", f"fc1_{exp}", zoom_factor=8)


def write(path: Path, chunks) -> Path:
    """Stream the chunks of a NetParameter to ``path`` (a full MSC file is ~0.5 GB; never held whole)."""
    path = Path(path)
    with open(path, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
    return path


__all__ = ["CaffeBN", "v1_largefov_chunks", "v2_resnet_msc_chunks", "write", "blob_legacy", "blob_shaped",
           "varint", "f_packed_floats"]

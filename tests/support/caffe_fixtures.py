"""Write .caffemodel files for tests, encoded by the protobuf library with the real Caffe schema.

A subset of caffe.proto (field numbers as in BVLC/DeepLab-v2 caffe.proto and the DeepLab-v1
proto, see /work/shared/reference/deeplab.md §7) is declared with descriptor_pb2 and turned into
message classes at test time, so the fixtures do not depend on our own reader's logic.
"""
from __future__ import annotations

import numpy as np
import torch
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto
_OPT, _REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED

# message -> [(name, number, label, type, type_name or None, packed)]
_SCHEMA = {
    "BlobShape": [("dim", 1, _REP, F.TYPE_INT64, None, True)],
    "BlobProto": [("num", 1, _OPT, F.TYPE_INT32, None, False),
                  ("channels", 2, _OPT, F.TYPE_INT32, None, False),
                  ("height", 3, _OPT, F.TYPE_INT32, None, False),
                  ("width", 4, _OPT, F.TYPE_INT32, None, False),
                  ("data", 5, _REP, F.TYPE_FLOAT, None, True),
                  ("diff", 6, _REP, F.TYPE_FLOAT, None, True),
                  ("shape", 7, _OPT, F.TYPE_MESSAGE, ".caffe.BlobShape", False),
                  ("double_data", 8, _REP, F.TYPE_DOUBLE, None, True)],
    # v2 (BVLC) ConvolutionParameter: pad/kernel_size/stride/dilation are repeated uint32
    "ConvolutionParameter": [("num_output", 1, _OPT, F.TYPE_UINT32, None, False),
                             ("bias_term", 2, _OPT, F.TYPE_BOOL, None, False),
                             ("pad", 3, _REP, F.TYPE_UINT32, None, False),
                             ("kernel_size", 4, _REP, F.TYPE_UINT32, None, False),
                             ("stride", 6, _REP, F.TYPE_UINT32, None, False),
                             ("force_nd_im2col", 17, _OPT, F.TYPE_BOOL, None, False),
                             ("dilation", 18, _REP, F.TYPE_UINT32, None, False)],
    # DeepLab v1 ConvolutionParameter: optional scalars and the "hole" (dilation) field
    "V1ConvolutionParameter": [("num_output", 1, _OPT, F.TYPE_UINT32, None, False),
                               ("bias_term", 2, _OPT, F.TYPE_BOOL, None, False),
                               ("pad", 3, _OPT, F.TYPE_UINT32, None, False),
                               ("kernel_size", 4, _OPT, F.TYPE_UINT32, None, False),
                               ("stride", 6, _OPT, F.TYPE_UINT32, None, False),
                               ("hole", 17, _OPT, F.TYPE_UINT32, None, False)],
    "PoolingParameter": [("pool", 1, _OPT, F.TYPE_UINT32, None, False),
                         ("kernel_size", 2, _OPT, F.TYPE_UINT32, None, False),
                         ("stride", 3, _OPT, F.TYPE_UINT32, None, False),
                         ("pad", 4, _OPT, F.TYPE_UINT32, None, False)],
    "BatchNormParameter": [("use_global_stats", 1, _OPT, F.TYPE_BOOL, None, False),
                           ("eps", 3, _OPT, F.TYPE_FLOAT, None, False)],
    "LayerParameter": [("name", 1, _OPT, F.TYPE_STRING, None, False),
                       ("type", 2, _OPT, F.TYPE_STRING, None, False),
                       ("bottom", 3, _REP, F.TYPE_STRING, None, False),
                       ("top", 4, _REP, F.TYPE_STRING, None, False),
                       ("blobs", 7, _REP, F.TYPE_MESSAGE, ".caffe.BlobProto", False),
                       ("convolution_param", 106, _OPT, F.TYPE_MESSAGE,
                        ".caffe.ConvolutionParameter", False),
                       ("pooling_param", 121, _OPT, F.TYPE_MESSAGE, ".caffe.PoolingParameter", False),
                       ("batch_norm_param", 139, _OPT, F.TYPE_MESSAGE,
                        ".caffe.BatchNormParameter", False)],
    "V1LayerParameter": [("bottom", 2, _REP, F.TYPE_STRING, None, False),
                         ("top", 3, _REP, F.TYPE_STRING, None, False),
                         ("name", 4, _OPT, F.TYPE_STRING, None, False),
                         ("type", 5, _OPT, F.TYPE_ENUM, ".caffe.V1LayerParameter.LayerType", False),
                         ("blobs", 6, _REP, F.TYPE_MESSAGE, ".caffe.BlobProto", False),
                         ("blobs_lr", 7, _REP, F.TYPE_FLOAT, None, False),
                         ("convolution_param", 10, _OPT, F.TYPE_MESSAGE,
                          ".caffe.V1ConvolutionParameter", False),
                         ("pooling_param", 19, _OPT, F.TYPE_MESSAGE, ".caffe.PoolingParameter", False),
                         ("strict_dim", 1003, _OPT, F.TYPE_BOOL, None, False)],
    "NetParameter": [("name", 1, _OPT, F.TYPE_STRING, None, False),
                     ("layers", 2, _REP, F.TYPE_MESSAGE, ".caffe.V1LayerParameter", False),
                     ("input", 3, _REP, F.TYPE_STRING, None, False),
                     ("input_dim", 4, _REP, F.TYPE_INT32, None, False),
                     ("layer", 100, _REP, F.TYPE_MESSAGE, ".caffe.LayerParameter", False)],
    # The same field numbers without [packed=true]: the protobuf spec lets a writer emit each
    # float / dim as its own field, and a reader must accept both encodings.
    "LooseBlobShape": [("dim", 1, _REP, F.TYPE_INT64, None, False)],
    "LooseBlobProto": [("data", 5, _REP, F.TYPE_FLOAT, None, False),
                       ("shape", 7, _OPT, F.TYPE_MESSAGE, ".caffe.LooseBlobShape", False),
                       ("double_data", 8, _REP, F.TYPE_DOUBLE, None, False)],
    "LooseLayer": [("name", 1, _OPT, F.TYPE_STRING, None, False),
                   ("type", 2, _OPT, F.TYPE_STRING, None, False),
                   ("blobs", 7, _REP, F.TYPE_MESSAGE, ".caffe.LooseBlobProto", False)],
    "LooseNet": [("layer", 100, _REP, F.TYPE_MESSAGE, ".caffe.LooseLayer", False)],
}
# DeepLab v1 LayerType values (subset)
V1_TYPES = {"CONVOLUTION": 4, "DROPOUT": 6, "POOLING": 17, "RELU": 18, "INTERP": 41, "DENSE_CRF": 45}


def _build_classes():
    fd = descriptor_pb2.FileDescriptorProto(name="caffe_fixture.proto", package="caffe",
                                            syntax="proto2")
    for msg_name, fields in _SCHEMA.items():
        msg = fd.message_type.add(name=msg_name)
        for name, number, label, ftype, type_name, packed in fields:
            f = msg.field.add(name=name, number=number, label=label, type=ftype)
            if type_name:
                f.type_name = type_name
            if packed:
                f.options.packed = True
        if msg_name == "V1LayerParameter":
            enum = msg.enum_type.add(name="LayerType")
            enum.value.add(name="NONE", number=0)
            for n, v in V1_TYPES.items():
                enum.value.add(name=n, number=v)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe.{name}"))
            for name in _SCHEMA}


PB = _build_classes()


def _blob(msg, array, legacy: bool):
    a = np.asarray(array, dtype=np.float32)
    if legacy:  # num/channels/height/width, right-aligned like old Caffe (bias -> 1,1,1,N)
        dims = (1,) * (4 - a.ndim) + a.shape
        msg.num, msg.channels, msg.height, msg.width = (int(d) for d in dims)
    else:
        msg.shape.dim.extend(int(d) for d in a.shape)
    msg.data.extend(a.reshape(-1).tolist())


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def v1_caffemodel(model, head: str = "fc8_voc12", legacy: bool = True, fc6_hole: int = 12) -> bytes:
    """A DeepLab v1 LargeFOV .caffemodel holding `model`'s weights (legacy `layers` by default)."""
    net = PB["NetParameter"](name="vgg16_128")
    conv_names = [n for n, _ in model.named_children() if n.startswith(("conv", "fc"))]
    for name in conv_names:
        conv = getattr(model, name)
        dil = fc6_hole if name == "fc6" else conv.dilation[0]
        caffe_name = head if name == "fc8" else name
        if legacy:
            layer = net.layers.add(name=caffe_name, type=V1_TYPES["CONVOLUTION"])
            layer.blobs_lr.extend([1.0, 2.0])
            if name.startswith("fc"):
                layer.strict_dim = False  # DeepLab-v1-only field 1003: must be skipped
            p = layer.convolution_param
            p.num_output, p.kernel_size, p.pad = conv.out_channels, conv.kernel_size[0], conv.padding[0]
            if dil != 1:
                p.hole = dil
        else:
            layer = net.layer.add(name=caffe_name, type="Convolution")
            p = layer.convolution_param
            p.num_output = conv.out_channels
            p.kernel_size.append(conv.kernel_size[0])
            p.pad.append(conv.padding[0])
            if dil != 1:
                p.dilation.append(dil)
        _blob(layer.blobs.add(), _np(conv.weight), legacy)
        _blob(layer.blobs.add(), _np(conv.bias), legacy)
        relu = f"relu{name[2:]}" if name.startswith("fc") else f"relu{name[4:]}"
        if legacy:  # layers without blobs must be skipped by the reader
            net.layers.add(name=relu, type=V1_TYPES["RELU"])
        else:
            net.layer.add(name=relu, type="ReLU")
    if legacy:
        pool = net.layers.add(name="pool5a", type=V1_TYPES["POOLING"])
        pool.pooling_param.pool, pool.pooling_param.kernel_size = 1, 3
        net.layers.add(name="crf", type=V1_TYPES["DENSE_CRF"])
    return net.SerializeToString()


def _block_letter(stage: int, block: int) -> str:
    """Caffe ResNet-101 names: res2/res5 use a,b,c; res3/res4 use a, b1, b2, ..."""
    if block == 1:
        return "a"
    return f"b{block - 1}" if stage in (3, 4) else chr(ord("a") + block - 1)


def _conv_bn(net, conv_name, bn_name, scale_name, unit, bn_factor):
    conv, bn = unit.conv, unit.bn
    layer = net.layer.add(name=conv_name, type="Convolution")
    p = layer.convolution_param
    p.num_output, p.bias_term = conv.out_channels, False
    p.kernel_size.append(conv.kernel_size[0])
    if conv.stride[0] != 1:
        p.stride.append(conv.stride[0])
    if conv.padding[0]:
        p.pad.append(conv.padding[0])
    if conv.dilation[0] != 1:
        p.dilation.append(conv.dilation[0])
    _blob(layer.blobs.add(), _np(conv.weight), legacy=False)
    bnl = net.layer.add(name=bn_name, type="BatchNorm")
    bnl.batch_norm_param.use_global_stats = True
    if bn.eps != 1e-5:  # absent = Caffe's default 1e-5
        bnl.batch_norm_param.eps = bn.eps
    for stat in (bn.running_mean * bn_factor, bn.running_var * bn_factor, torch.tensor([bn_factor])):
        _blob(bnl.blobs.add(), _np(stat), legacy=False)
    sl = net.layer.add(name=scale_name, type="Scale")
    _blob(sl.blobs.add(), _np(bn.weight), legacy=False)
    _blob(sl.blobs.add(), _np(bn.bias), legacy=False)


def v2_caffemodel(msc_model, exp: str = "voc12", bn_factor: float = 999.982,
                  msc_copies: bool = True) -> bytes:
    """A DeepLab v2 ResNet .caffemodel (new `layer` field) with `msc_model.base`'s weights.

    msc_copies adds *_res05 / *_res075 layers holding different numbers: a reader that does not
    skip them produces different outputs.
    """
    base = msc_model.base
    net = PB["NetParameter"](name="ResNet-101")
    _conv_bn(net, "conv1", "bn_conv1", "scale_conv1", base.layer1.conv1, bn_factor)
    net.layer.add(name="pool1", type="Pooling")
    for stage in range(2, 6):
        for i, block in enumerate(getattr(base, f"layer{stage}").children(), start=1):
            tag = f"{stage}{_block_letter(stage, i)}"
            parts = [("2a", block.reduce), ("2b", block.conv3x3), ("2c", block.increase)]
            if not isinstance(block.shortcut, torch.nn.Identity):
                parts.insert(0, ("1", block.shortcut))
            for branch, unit in parts:
                _conv_bn(net, f"res{tag}_branch{branch}", f"bn{tag}_branch{branch}",
                         f"scale{tag}_branch{branch}", unit, bn_factor)
            net.layer.add(name=f"res{tag}", type="Eltwise")
    for j, conv in enumerate(base.aspp.children()):
        for suffix in ([""] + (["_res075", "_res05"] if msc_copies else [])):
            layer = net.layer.add(name=f"fc1_{exp}_c{j}{suffix}", type="Convolution")
            p = layer.convolution_param
            p.num_output = conv.out_channels
            p.kernel_size.append(3)
            p.pad.append(conv.padding[0])
            p.dilation.append(conv.dilation[0])
            noise = 0.0 if not suffix else 1.0
            _blob(layer.blobs.add(), _np(conv.weight) + noise, legacy=False)
            _blob(layer.blobs.add(), _np(conv.bias) + noise, legacy=False)
    if msc_copies:
        c = net.layer.add(name="conv1_res05", type="Convolution")
        _blob(c.blobs.add(), _np(base.layer1.conv1.conv.weight) * 2, legacy=False)
    net.layer.add(name=f"fc1_{exp}", type="Eltwise")
    return net.SerializeToString()

"""Caffe layer names -> our state-dict keys, for DeepLab v1 LargeFOV and v2 ResNet-101.

v1 modules carry the Caffe names, so only fc8_<exp> -> fc8 changes. v2 follows kazuto's
convert.py (reference §3.7): res{S}{blk}_branch{x} -> base.layer{S}.block{n}.{part}; BatchNorm
blobs [mean*s, var*s, s] are divided by s (s == 0 -> 0, as Caffe does); the following Scale
layer gives the BN weight/bias; the weight-shared MSC copies (*_res05, *_res075) are skipped.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from engine.checkpoints.caffemodel import CaffeLayer

_V1_NAME = re.compile(r"^(conv[1-5]_[1-3]|fc6|fc7)$")
_V1_HEAD = re.compile(r"^fc8(_.+)?$")
_V2_RES = re.compile(r"^(res|bn|scale)([2-5])([a-z])(\d*)_branch(1|2a|2b|2c)$")
_V2_ASPP = re.compile(r"^fc1_.+_c(\d+)$")
_V2_FC = re.compile(r"^fc1?(_[^_]+)?$")
_BRANCH = {"1": "shortcut", "2a": "reduce", "2b": "conv3x3", "2c": "increase"}
_MSC_COPY = ("res05", "res075")


def detect_caffe_arch(layers: list[CaffeLayer]) -> str | None:
    """'deeplab_v1_largefov', 'deeplab_v2_resnet101', or None if neither net is recognised."""
    names = {layer.name for layer in layers if layer.blobs}
    if "conv1_1" in names and "fc6" in names:
        return "deeplab_v1_largefov"
    if "conv1" in names and any(_V2_RES.match(n) for n in names):
        return "deeplab_v2_resnet101"
    return None


def is_msc_copy(name: str) -> bool:
    return any(tag in name for tag in _MSC_COPY)


def _v1_module(name: str) -> str | None:
    if _V1_NAME.match(name):
        return name
    return "fc8" if _V1_HEAD.match(name) else None


def _v2_module(name: str) -> tuple[str, str] | None:
    """(module path under base., role) where role is conv / bn / scale; None if unknown."""
    if name == "conv1":
        return "layer1.conv1.conv", "conv"
    if name == "bn_conv1":
        return "layer1.conv1.bn", "bn"
    if name == "scale_conv1":
        return "layer1.conv1.bn", "scale"
    m = _V2_RES.match(name)
    if m:
        kind, stage, letter, num, branch = m.groups()
        if num:  # res3b1 / res4b22: block b{k} is block k+1 (a is 1)
            if letter != "b":
                return None
            block = int(num) + 1
        else:
            block = ord(letter) - ord("a") + 1
        path = f"layer{stage}.block{block}.{_BRANCH[branch]}"
        return (path + ".conv", "conv") if kind == "res" else (path + ".bn", kind)
    m = _V2_ASPP.match(name)
    if m:
        return f"aspp.c{m.group(1)}", "conv"
    if _V2_FC.match(name):
        return "fc", "conv"
    return None


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _bn_stats(layer: CaffeLayer) -> dict[str, torch.Tensor]:
    if len(layer.blobs) < 2:
        raise ValueError(f"BatchNorm layer {layer.name!r} has {len(layer.blobs)} blobs, expected 3")
    if len(layer.blobs) > 2 and layer.blobs[2].size != 1:
        raise ValueError(f"BatchNorm layer {layer.name!r}: its scale factor blob holds {layer.blobs[2].size} "
                         f"values, expected 1")
    s = float(layer.blobs[2].reshape(-1)[0]) if len(layer.blobs) > 2 else 1.0
    factor = 0.0 if s == 0 else 1.0 / s
    return {"running_mean": _tensor(layer.blobs[0].reshape(-1) * factor),
            "running_var": _tensor(layer.blobs[1].reshape(-1) * factor)}


def _param_names(role: str, layer: CaffeLayer) -> list[str]:
    return {"conv": ["weight", "bias"], "scale": ["weight", "bias"]}[role][: len(layer.blobs)]


def caffe_state_dict(layers: list[CaffeLayer], arch: str):
    """Convert layers to (state_dict, unknown layer names, conv geometry by module path, BatchNorm eps by module
    path for the BN layers that store one).

    Blobs keep their stored shape (legacy files store a bias as (1,1,1,N)); the loader reshapes
    them to the model's shapes when the element counts agree.
    """
    sd: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    geometry: dict[str, dict[str, int]] = {}
    bn_eps: dict[str, float] = {}
    for layer in layers:
        if not layer.blobs or (arch == "deeplab_v2_resnet101" and is_msc_copy(layer.name)):
            continue
        if arch == "deeplab_v1_largefov":
            module = _v1_module(layer.name)
            target = (module, "conv") if module else None
        else:
            target = _v2_module(layer.name)
            target = ("base." + target[0], target[1]) if target else None
        if target is None:
            unknown.append(f"{layer.name} ({layer.type or 'unknown type'}, {len(layer.blobs)} blobs)")
            continue
        path, role = target
        if role == "bn":
            sd.update({f"{path}.{k}": v for k, v in _bn_stats(layer).items()})
            if layer.bn_eps is not None:
                bn_eps[path] = layer.bn_eps
            continue
        for pname, blob in zip(_param_names(role, layer), layer.blobs):
            sd[f"{path}.{pname}"] = _tensor(blob)
        if role == "conv" and layer.conv:
            geometry[path] = dict(layer.conv)
    return sd, unknown, geometry, bn_eps

"""Infer a ModelSpec from state-dict shapes and load tensors into a model with clear errors.

Shared by every reader (project format, kazuto .pth, .caffemodel): each reader only turns its
file into our key names; the head width gives the class count, the layer shapes give the
(possibly narrow) variant, and a mismatch is reported key by key so the user can act on it.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.errors import CheckpointError
from engine.models.pipelines import DEFAULT_PIPELINE
from engine.models.registry import ModelSpec

_SHOW = 10  # how many keys of each kind an error message lists
_V1_DEFAULTS = {"channels": (64, 128, 256, 512, 512), "fc_channels": 1024}
_V2_DEFAULTS = {"blocks": (3, 4, 23, 3), "base_channels": 64, "head": "aspp"}
CRF_PRESET = {"deeplab_v1_largefov": "deeplab-v1", "deeplab_v2_resnet101": "deeplab-v2"}


def _need(sd: dict, key: str, path: Path, arch: str) -> torch.Tensor:
    value = sd.get(key)
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f"{path}: looks like {arch} but has no tensor {key!r}; "
                              f"it is not a complete DeepLab checkpoint")
    if value.ndim != 4:
        raise CheckpointError(f"{path}: {key!r} has shape {tuple(value.shape)}; a convolution weight has 4 "
                              f"dimensions (out, in, kh, kw)")
    return value


def _v1_kwargs(sd, path):
    arch = "deeplab_v1_largefov"
    head = _need(sd, "fc8.weight", path, arch)
    kw = {"channels": tuple(int(_need(sd, f"conv{s}_1.weight", path, arch).shape[0])
                            for s in range(1, 6)),
          "fc_channels": int(_need(sd, "fc6.weight", path, arch).shape[0])}
    return int(head.shape[0]), kw


def _v2_kwargs(sd, path):
    arch = "deeplab_v2_resnet101"
    stem = _need(sd, "base.layer1.conv1.conv.weight", path, arch)
    blocks = []
    for layer in range(2, 6):
        pat = re.compile(rf"^base\.layer{layer}\.block(\d+)\.")
        blocks.append(max((int(m.group(1)) for k in sd if (m := pat.match(k))), default=0))
    head_key = "base.fc.weight" if "base.fc.weight" in sd else "base.aspp.c0.weight"
    head = _need(sd, head_key, path, arch)
    kw = {"blocks": tuple(blocks), "base_channels": int(stem.shape[0]),
          "head": "fc" if head_key == "base.fc.weight" else "aspp"}
    return int(head.shape[0]), kw


_ARCH_SHAPES = {"deeplab_v1_largefov": (_v1_kwargs, _V1_DEFAULTS),
                "deeplab_v2_resnet101": (_v2_kwargs, _V2_DEFAULTS)}


def spec_from_state_dict(arch: str, sd: dict, path: Path, msc_scales=(), class_list=None,
                         name: str = "", pipeline: str = DEFAULT_PIPELINE) -> ModelSpec:
    """ModelSpec whose network has exactly the shapes found in sd (narrow variants included), run by `pipeline`
    (the reader knows which: caffe for Caffe weights, kazuto for kazuto's .pth)."""
    infer, defaults = _ARCH_SHAPES[arch]
    n_classes, kw = infer(sd, path)
    arch_kwargs = tuple((k, v) for k, v in kw.items() if defaults.get(k) != v)
    names, palette = (), ()
    if class_list is not None:
        if len(class_list) != n_classes:
            raise CheckpointError(f"{path}: the model predicts {n_classes} classes but the chosen "
                                  f"class list has {len(class_list)}; pick a list with {n_classes}")
        names, palette = class_list.names, class_list.palette
    return ModelSpec(arch=arch, n_classes=n_classes, class_names=names, palette=palette,
                     arch_kwargs=arch_kwargs, msc_scales=tuple(msc_scales),
                     crf_preset=CRF_PRESET[arch], name=name or path.stem, pipeline=pipeline)


def bn_eps_kwarg(model: nn.Module, eps_by_path: dict[str, float]):
    """The bn_eps arch_kwarg for the BatchNorm eps a .caffemodel stores per layer (absent = Caffe's 1e-5): None
    when every layer has the default, one float when all agree, else one value per BatchNorm in module order.
    Compared and stored as float32, the type Caffe keeps them in."""
    default = np.float32(1e-5)
    names = [n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    values = [np.float32(eps_by_path.get(n, default)) for n in names]
    if all(v == default for v in values):
        return None
    if len(set(values)) == 1:
        return float(values[0])
    return tuple(float(v) for v in values)


def _listing(title: str, items: list[str]) -> str:
    more = f", ... ({len(items) - _SHOW} more)" if len(items) > _SHOW else ""
    return f"{title} ({len(items)}): " + ", ".join(items[:_SHOW]) + more


def fit_state_dict(model: nn.Module, sd: dict, path: Path, what: str, reshape: bool = False):
    """Load sd into model strictly; on any difference raise CheckpointError listing it.

    reshape=True lets a tensor with the right element count take the model's shape (Caffe
    stores biases as (1,1,1,N) in legacy blobs). Missing BN num_batches_tracked is filled in.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in expected]
    mismatched, fitted = [], {}
    for key, value in sd.items():
        if key not in expected:
            continue
        want = expected[key]
        if not isinstance(value, torch.Tensor):
            mismatched.append(f"{key}: not a tensor ({type(value).__name__})")
        elif tuple(value.shape) == tuple(want.shape):
            fitted[key] = value
        elif reshape and value.numel() == want.numel():
            fitted[key] = value.reshape(want.shape)
        else:
            mismatched.append(f"{key}: file {tuple(value.shape)} vs model {tuple(want.shape)}")
    if missing or unexpected or mismatched:
        parts = [_listing(t, items) for t, items in (("missing keys", missing),
                 ("unexpected keys", unexpected), ("shape mismatches", mismatched)) if items]
        raise CheckpointError(f"{path}: the weights do not fit {what}. " + "; ".join(parts))
    for key, value in expected.items():
        fitted.setdefault(key, value)  # num_batches_tracked
    try:
        model.load_state_dict(fitted, strict=True)
    except RuntimeError as e:  # e.g. a tensor whose dtype cannot be copied into the weights
        raise CheckpointError(f"{path}: the weights do not fit {what}: {str(e).splitlines()[0][:300]}") from e


def check_geometry(model: nn.Module, geometry: dict, path: Path) -> None:
    """Compare kernel/stride/pad/dilation stored in a .caffemodel with our conv modules."""
    attrs = {"kernel": "kernel_size", "stride": "stride", "pad": "padding", "dilation": "dilation"}
    problems = []
    for module_path, stored in geometry.items():
        conv = model.get_submodule(module_path)
        for field, value in stored.items():
            ours = getattr(conv, attrs[field])[0]
            if ours != value:
                problems.append(f"{module_path} {field} {value} in file vs {ours} in the model")
    if problems:
        raise CheckpointError(f"{path}: the .caffemodel was trained with a different layer "
                              f"geometry: " + "; ".join(problems[:_SHOW]))

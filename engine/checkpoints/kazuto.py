"""Plain PyTorch state dicts from other DeepLab ports -> our key names and architecture.

Accepted layouts (reference §3.1, §1.6):
- kazuto1011 v2 MSC:       base.layer1.conv1.conv.weight ... base.aspp.c0.weight (MSC 0.5/0.75)
- kazuto COCO init:        layer1.conv1.conv.weight ... fc.weight (DeepLabV1 container, no MSC)
- v1 with Caffe names:     conv1_1.weight ... fc8_voc12.weight (e.g. BardOfCodes conversions)
A dict wrapping the weights under "state_dict" or "model", and DataParallel "module." prefixes,
are unwrapped first.
"""
from __future__ import annotations

import torch

KAZUTO_MSC_SCALES = (0.5, 0.75)


def unwrap_state_dict(obj):
    """The tensor dict inside a training checkpoint, or obj itself; None if there is none."""
    for _ in range(3):
        if not isinstance(obj, dict):
            return None
        if any(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in ("state_dict", "model", "model_state_dict", "net")
                      if isinstance(obj.get(k), dict)), None)
        if inner is None:
            return None
        obj = inner
    prefix = "module."
    if obj and all(isinstance(k, str) and k.startswith(prefix) for k in obj):
        obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


# layout label (LoadedModel.source_format) -> the pipeline its weights were evaluated with
PIPELINE_OF_LAYOUT = {"kazuto": "kazuto", "state_dict": "caffe"}


def normalise_state_dict(sd: dict):
    """(arch, msc_scales, state dict in our key names, layout label) or None if unrecognised. v1 state dicts with
    Caffe names are conversions of the Caffe release (no PyTorch-trained LargeFOV weights were published), so their
    layout runs the caffe pipeline; kazuto's files run his."""
    keys = [k for k in sd if isinstance(k, str)]
    if "base.layer1.conv1.conv.weight" in sd:
        return "deeplab_v2_resnet101", KAZUTO_MSC_SCALES, dict(sd), "kazuto"
    if "layer1.conv1.conv.weight" in sd:
        return "deeplab_v2_resnet101", (), {"base." + k: v for k, v in sd.items()}, "kazuto"
    if "conv1_1.weight" in sd:
        heads = [k for k in keys if k.startswith("fc8") and k.endswith(".weight")]
        if len(heads) == 1:
            head = heads[0][: -len(".weight")]
            renamed = {("fc8" + k[len(head):] if k.startswith(head + ".") else k): v
                       for k, v in sd.items()}
            return "deeplab_v1_largefov", (), renamed, "state_dict"
        if not heads and "fc7.weight" in sd:   # vgg16_20M: the backbone DeepLab v1 trains from (checkpoints.backbone)
            return "deeplab_v1_largefov", (), dict(sd), "state_dict"
    return None


def near_miss(sd: dict) -> str:
    """Why a state dict that starts like a known layout is not one (normalise_state_dict gave None): '' if it
    does not start like one."""
    keys = [k for k in sd if isinstance(k, str)]
    if "conv1_1.weight" not in sd:
        return ""
    heads = sorted(k for k in keys if k.startswith("fc8") and k.endswith(".weight"))
    if len(heads) > 1:
        return f"it has DeepLab v1 Caffe names but {len(heads)} classifiers ({', '.join(heads[:4])}); keep one"
    return "it has DeepLab v1 Caffe names but no fc7.weight (a backbone has conv1_1 ... fc7, a model fc8 too)"


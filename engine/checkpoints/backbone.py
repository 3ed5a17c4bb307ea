"""Backbone-only checkpoints: DeepLab's published initialisations, used as feature extractors for a head that
strokes teach (engine.models.folder_head).

Recognised: a v1 LargeFOV with no fc8 (vgg16_20M.caffemodel, the reduced ImageNet VGG-16 that DeepLab v1 trains
from, or the same as a state dict with Caffe names), and a v1 or v2 whose classifier is wider than a label map can
hold (an ImageNet fc with 1000 outputs). Such a network gets a one-output classifier of zeros named "background":
until strokes teach the folder's classes, every class is equally likely, a folder class named "background"
included (a one-output network knows no class: engine.models.folder_head.fold_logits). The 91-class MS-COCO init
of DeepLab v2 (init.caffemodel, kazuto's deeplabv1_resnet101-coco.pth) has a real classifier and loads as a
91-class model.
"""
from __future__ import annotations

import re

import torch

from engine.checkpoints.spec_check import MAX_CLASSES
from engine.labels import ClassList

MARK = "backbone only"
CLASSES = ClassList(("background",), ((0, 0, 0),))
_V2_HEADS = re.compile(r"^base\.(aspp\.c\d+|fc)\.(weight|bias)$")


def is_backbone_only(loaded) -> bool:
    return MARK in str(getattr(loaded, "source_format", ""))


def refuse_untaught(loaded, name, then: str) -> None:
    """EngineError for a tool that labels images with a backbone-only checkpoint: its one zero placeholder output
    labels every pixel class 0 (a walk: prelabel wrote 6 all-background label maps, exit 0, and gave the folder a
    one-class list). ``then``: how to label with what strokes teach, in that tool."""
    from engine.errors import EngineError

    if is_backbone_only(loaded):
        raise EngineError(f"{name} is a backbone-only initialisation: it has no classifier, so it cannot label images "
                          f"yet. Open a folder in the window with it, add your classes and paint a stroke of each "
                          f"(the model learns them), then {then}.")


def strip_classifier(arch: str, sd: dict) -> dict | None:
    """A copy of ``sd`` (our key names) with a one-output zero classifier when it has none or one wider than
    MAX_CLASSES; None when its classifier is a usable one."""
    def conv(v) -> bool:
        return isinstance(v, torch.Tensor) and v.ndim == 4

    if arch == "deeplab_v1_largefov":
        head, fc7 = sd.get("fc8.weight"), sd.get("fc7.weight")
        if not conv(fc7) or (head is not None and not (conv(head) and head.shape[0] > MAX_CLASSES)):
            return None     # a usable classifier, or a malformed file the normal path reports
        out = {k: v for k, v in sd.items() if not k.startswith("fc8.")}
        out["fc8.weight"], out["fc8.bias"] = torch.zeros(1, fc7.shape[0], 1, 1), torch.zeros(1)
        return out
    heads = {k: v for k, v in sd.items() if _V2_HEADS.match(k)}
    weights = [v for k, v in heads.items() if k.endswith("weight")]
    if weights and not (all(conv(v) for v in weights) and max(int(v.shape[0]) for v in weights) > MAX_CLASSES):
        return None
    last = sorted(k for k in sd if re.match(r"^base\.layer5\.block\d+\.increase\.conv\.weight$", k))
    if not last or not conv(sd[last[-1]]):
        return None
    channels = int(sd[last[-1]].shape[0])
    out = {k: v for k, v in sd.items() if k not in heads}
    out["base.fc.weight"], out["base.fc.bias"] = torch.zeros(1, channels, 1, 1), torch.zeros(1)
    return out

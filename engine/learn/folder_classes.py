"""Train on saved labels to the folder's own classes: a copy of the network whose classifier has one output per
folder class, matched to the model's by name.

A folder class the model has keeps the model's classifier row; a class it lacks starts from the row the adapted head
learnt for it (labels/.model/, engine.learn.head_store) where there is one, else from zero; a model class the folder
does not list is dropped. The rest of the network is copied unchanged, so fine-tuning (engine.learn.finetune) starts
from what the model and the strokes already know.
"""
from __future__ import annotations

import copy
from dataclasses import replace

import torch

from ..errors import EngineError
from ..labels import ClassList
from ..models.folder_head import N_COLOUR, attached
from ..models.registry import build_model
from ..project import BY_NAME, FolderClasses, Match, reconcile


def _reconciled(classes: ClassList, model_classes: ClassList):
    """The folder's classes against the model's, by the project's one rule (engine.project.reconcile)."""
    return reconcile(FolderClasses.from_class_list(classes), model_classes)


def same_classes(classes: ClassList, model_classes: ClassList) -> bool:
    return _reconciled(classes, model_classes).match == Match.SAME


def to_folder_classes(loaded, classes: ClassList, head=None):
    """``loaded`` (LoadedModel) with one classifier output per class of ``classes``; ``head``: a residual
    HeadState over these classes (its rows initialise the classes the model lacks). Returns a new LoadedModel."""
    if attached(loaded.model) is not None:
        raise EngineError("this model is an exported adapted model; train from its base model instead")
    source = _reconciled(classes, loaded.spec.class_list()).channel_map(BY_NAME).source
    spec = replace(loaded.spec, n_classes=len(classes), class_names=classes.names, palette=classes.palette)
    model = build_model(spec)
    old_model = loaded.model
    prefix = next(n for n, m in old_model.named_modules() if m is old_model.classifier) + "."
    old, new = old_model.state_dict(), model.state_dict()
    rows = _head_rows(head, len(classes))
    first = True     # only the classifier's first conv (one ASPP branch) takes the head's row: branches are summed
    for key, target in new.items():
        if not key.startswith(prefix):
            new[key] = old[key].clone()
            continue
        src = old[key]
        out = torch.zeros_like(target)
        for f, s in enumerate(source):
            if s >= 0:
                out[f] = src[s]
            elif rows is not None and first:
                w, b = rows
                if key.endswith("weight"):
                    kh, kw = out.shape[-2:]
                    out[f, :, kh // 2, kw // 2] = w[f]
                else:
                    out[f] = b[f]
        if key.endswith("bias"):
            first = False
        new[key] = out
    model.load_state_dict(new)
    return replace(loaded, model=copy.deepcopy(model).eval(), spec=spec)


def _head_rows(head, n: int):
    """(weight (n, network channels) as it multiplies the features, bias (n,)) of a residual head, or None."""
    if head is None or head.is_original or head.kind != "residual":
        return None
    weight, bias, scale = head.tensors[:3]   # the colour channels and pixel term have no place in a network
    if weight.shape[0] != n:
        return None
    return weight[:, :weight.shape[1] - N_COLOUR] * float(scale), bias

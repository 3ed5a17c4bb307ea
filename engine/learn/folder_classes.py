"""Train on saved labels to the folder's own classes: a copy of the network whose classifier has one output per
folder class, matched to the model's by name.

A folder class the model has keeps the model's classifier row; a class it lacks starts from a row distilled from the
head the strokes taught it (labels/.model/, engine.learn.head_store, or an exported adapted model's own head;
engine.learn.distil) where there is one, else from zero; a model class the folder does not list is dropped. An
exported adapted model trains as the network under its head, with the head's classes. The rest of the network is
copied unchanged, so fine-tuning (engine.learn.finetune) starts from what the model and the strokes already know.
"""
from __future__ import annotations

import copy
from dataclasses import replace

import torch

from ..labels import ClassList
from ..models.folder_head import attach, attached
from ..models.registry import build_model
from ..project import BY_NAME, FolderClasses, Match, reconcile
from ..project.classes import match_key


def _reconciled(classes: ClassList, model_classes: ClassList):
    """The folder's classes against the model's, by the project's one rule (engine.project.reconcile)."""
    return reconcile(FolderClasses.from_class_list(classes), model_classes)


def same_classes(classes: ClassList, model_classes: ClassList) -> bool:
    return _reconciled(classes, model_classes).match == Match.SAME


def lacking_classes(classes: ClassList, model_classes: ClassList) -> list[int]:
    """The folder classes the model lacks (matched by name, as everywhere)."""
    return [f for f, s in enumerate(_reconciled(classes, model_classes).channel_map(BY_NAME).source) if s < 0]


def to_folder_classes(loaded, classes: ClassList, head=None, images=(), should_cancel=None):
    """``loaded`` (LoadedModel) with one classifier output per class of ``classes``, matched by name. ``head``: a
    residual HeadState over these classes taught on ``loaded`` (the folder's labels/.model/ file); an exported
    adapted model brings its own head. A class the network lacks gets a row distilled from that head on the saved
    ``images`` (engine.learn.distil), else zeros. Returns a new LoadedModel with no folder head."""
    from ..predict import Predictor
    from .adapt import HeadAdapter
    from .distil import distil_new_rows

    adapted = attached(loaded.model)
    if adapted is not None:                    # the network under the head, and the head's classes by name
        base_model = copy.deepcopy(loaded.model)
        attach(base_model, None)
        index = {match_key(n): j for j, n in enumerate(loaded.spec.class_names)}
        picks = [index.get(match_key(n), -1) for n in classes.names]
        source = tuple(adapted.source[j] if j >= 0 else -1 for j in picks)
        teacher, head_rows, inv_scale = adapted, picks, adapted.inv_scale
        base = replace(loaded, model=base_model.eval())
    else:
        source = _reconciled(classes, loaded.spec.class_list()).channel_map(BY_NAME).source
        base, teacher, head_rows, inv_scale = loaded, None, list(range(len(classes))), 1.0
    new = [f for f, s in enumerate(source) if s < 0 and head_rows[f] >= 0]
    taught = teacher is not None or (head is not None and not head.is_original and head.kind == "residual"
                                     and len(head.tensors[0]) == len(classes))
    rows = None
    if new and taught and images:   # (no images: zero rows)
        predictor = Predictor(base, device="cpu")
        if teacher is None:
            teacher = HeadAdapter(predictor, source=source).head(head, carried=True)
            inv_scale = float(head.tensors[2])
        known = [(head_rows[f], s) for f, s in enumerate(source) if s >= 0]
        w, b = distil_new_rows(predictor, teacher, known, [head_rows[f] for f in new], images, inv_scale,
                               should_cancel)
        rows = {f: (w[i], b[i]) for i, f in enumerate(new)}
    spec = replace(loaded.spec, n_classes=len(classes), class_names=classes.names, palette=classes.palette)
    model = build_model(spec)
    old_model = base.model
    prefix = next(n for n, m in old_model.named_modules() if m is old_model.classifier) + "."
    old, fresh = old_model.state_dict(), model.state_dict()
    first = True     # only the classifier's first conv (one ASPP branch) takes a distilled row: branches are summed
    for key, target in fresh.items():
        if not key.startswith(prefix):
            fresh[key] = old[key].clone()
            continue
        src = old[key]
        out = torch.zeros_like(target)
        for f, s in enumerate(source):
            if s >= 0:
                out[f] = src[s]
            elif rows is not None and f in rows and first:
                w, b = rows[f]
                if key.endswith("weight"):
                    kh, kw = out.shape[-2:]
                    out[f, :, kh // 2, kw // 2] = w
                else:
                    out[f] = b
        if key.endswith("bias"):
            first = False
        fresh[key] = out
    model.load_state_dict(fresh)
    return replace(loaded, model=copy.deepcopy(model).eval(), spec=spec)

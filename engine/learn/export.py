"""Model > Export adapted model…: the base network plus the head the strokes taught, as one project checkpoint.

The file holds the network's own weights, the head over the folder's classes (engine.models.folder_head) and the
folder's class names, with provenance (base model and its SHA-256, strokes, images, folder). `predict`, `prelabel`,
`finetune` and the window load it like any other checkpoint, and it predicts what the window shows for an image
nobody has corrected yet: the head as it is carried to new images (its known-class residual gated by the network's
confidence). Its spec names the CRF preset the window used (``crf``, when they match a preset; else the one the
base model starts with), so the window, `prelabel` and `predict --crf` refine with those values too: the name of
the file alone would not find a preset tuned for the base checkpoint (demo_v1.pt's demo_v1).
"""
from __future__ import annotations

import copy
import time
from dataclasses import replace
from pathlib import Path

from ..checkpoints.own_format import save_checkpoint
from ..crf.params import CRFParams, preset_for_model, preset_named
from ..errors import EngineError
from ..labels import ClassList
from ..models import folder_head
from .adapt import HeadAdapter, HeadState, residual_parts


def export_adapted(path: str | Path, loaded, adapter: HeadAdapter, state: HeadState, class_list: ClassList,
                   folder: str | Path | None = None, crf: CRFParams | None = None) -> Path:
    """Write ``loaded``'s network with ``state``'s head (over ``class_list``, adapter.source's classes) to
    ``path`` atomically; returns the path. ``crf``: the CRF values the window shows (see exported_preset)."""
    if state is None or state.is_original:
        raise EngineError("The model has not learnt anything yet: paint a correction first, then export.")
    if adapter.kind != "residual":
        raise EngineError("only the residual head can be exported")
    if len(class_list) != adapter.n_classes:
        raise EngineError(f"the class list has {len(class_list)} classes but the head predicts {adapter.n_classes}")
    if folder_head.attached(loaded.model) is not None:
        raise EngineError("This model already carries a head over its folder's classes (an exported adapted model, "
                          "or one trained on saved labels with classes of its own); one head is exported on top of "
                          "a network. Use Train on saved labels to build what the strokes taught into it, or export "
                          "from the base model.")
    network, settings = network_with_head(loaded.model, adapter, state)
    spec = replace(loaded.spec, n_classes=len(class_list), class_names=class_list.names, palette=class_list.palette,
                   name=f"{loaded.spec.name or Path(loaded.path).stem} adapted",
                   crf_preset=exported_preset(loaded, crf))
    provenance = {"adapted_from": str(loaded.path), "base_sha256": loaded.sha256, "strokes": state.strokes,
                  "images": sorted(state.images), "folder": str(folder) if folder is not None else None,
                  "taught": {class_list.names[c]: {"strokes": n, "images": len(images)}
                             for c, n, images in state.taught if c < len(class_list)},
                  "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path = Path(path)
    save_checkpoint(path, network, spec, provenance=provenance, folder_head=settings)
    return path


def network_with_head(model, adapter: HeadAdapter, state: HeadState) -> tuple:
    """(a copy of ``model`` on the CPU with ``state``'s head attached, the head's settings for save_checkpoint):
    the head as an image nobody corrected sees it (gated by adapter.config). Shared by the export and by Train on
    saved labels, which keeps a head over a folder's own classes (engine.learn.trained_head)."""
    weight, bias, scale, pixel = residual_parts(adapter.resized(state).tensors)
    network = copy.deepcopy(model).cpu().eval()
    own = folder_head.NetworkClassifier(network.classifier)
    head = folder_head.FolderHead(own, adapter.source, weight.clone(), bias.clone(), float(scale),
                                  gate=adapter.config.gate, gate_new=adapter.config.gate_new,
                                  pixel=pixel.clone() if adapter.config.pixel_weight else None)
    folder_head.attach(network, head)
    settings = {"source": list(adapter.source), "n_model": adapter.n_model, "inv_scale": float(scale),
                "gate": adapter.config.gate, "gate_new": adapter.config.gate_new,
                "margin": folder_head.NEW_CLASS_MARGIN}
    return network, settings


def exported_preset(loaded, crf: CRFParams | None = None) -> str:
    """The CRF preset an export names: the preset ``crf`` matches, else the one the base model starts with."""
    return (preset_named(crf) if crf is not None else None) or preset_for_model(loaded.spec, loaded.path)

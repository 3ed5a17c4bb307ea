"""The project's checkpoint format: the weights plus the ModelSpec that rebuilds the network.

torch.save({"format": FORMAT, "spec": spec.to_dict(), "state_dict": ...}): only primitives and
tensors, so it loads with torch.load(weights_only=True) and never runs pickled code.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import torch
from torch import nn

from engine.io.atomic import write_bytes_atomic
from engine.models.registry import ModelSpec

FORMAT = "deeplab-annotator/1"


def is_own_format(obj) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def save_checkpoint(path: str | Path, model: nn.Module, spec: ModelSpec, provenance: dict | None = None,
                    folder_head: dict | None = None) -> None:
    """Write model weights + spec atomically (temp file, fsync, os.replace). ``provenance``: plain values (str,
    numbers, lists, dicts) saying where the weights came from, e.g. fine-tuning's base checkpoint and images.
    ``folder_head``: an adapted model's head over the folder's classes (engine.models.folder_head, attached to
    ``model``): its plain settings {"source", "n_model", "inv_scale", "gate", "margin"}; ``spec`` then names the
    folder's classes and the network is rebuilt with n_model outputs under it."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    obj = {"format": FORMAT, "spec": spec.to_dict(), "state_dict": state}
    if folder_head is not None:
        obj["folder_head"] = json.loads(json.dumps(folder_head))
    if provenance is not None:  # plain JSON values only, so the file stays loadable with weights_only=True
        obj["provenance"] = json.loads(json.dumps(provenance, default=str))
    torch.save(obj, buf)
    write_bytes_atomic(path, buf.getvalue())


def read_checkpoint_provenance(path: str | Path) -> dict | None:
    """The provenance stored in a project checkpoint (weights_only loading), or None if it has none."""
    obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    return obj.get("provenance") if is_own_format(obj) else None

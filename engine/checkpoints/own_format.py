"""The project's checkpoint format: the weights plus the ModelSpec that rebuilds the network.

torch.save({"format": FORMAT, "spec": spec.to_dict(), "state_dict": ...}): only primitives and
tensors, so it loads with torch.load(weights_only=True) and never runs pickled code.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from engine.io.atomic import write_bytes_atomic
from engine.models.registry import ModelSpec

FORMAT = "deeplab-annotator/1"


def is_own_format(obj) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def save_checkpoint(path: str | Path, model: nn.Module, spec: ModelSpec) -> None:
    """Write model weights + spec atomically (temp file, fsync, os.replace)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "spec": spec.to_dict(), "state_dict": state}, buf)
    write_bytes_atomic(path, buf.getvalue())

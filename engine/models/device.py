"""Which torch device to run on: CUDA, then Apple MPS, then CPU, unless the user says otherwise."""
from __future__ import annotations

import torch

from engine.errors import EngineError


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """Choices for the device menu: 'auto' first, then what this machine really has."""
    found = ["auto", "cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        found.append("mps")
    return found


def pick_device(pref: str | None = "auto") -> torch.device:
    """Resolve a preference ('auto', 'cpu', 'cuda', 'cuda:1', 'mps') to a device that exists here."""
    pref = (pref or "auto").lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError("CUDA was requested but no CUDA GPU is available; choose 'auto' or 'cpu'")
    if pref == "mps" and not _mps_available():
        raise EngineError("MPS was requested but is not available on this machine; choose 'auto' or 'cpu'")
    try:
        return torch.device(pref)
    except RuntimeError as exc:
        raise EngineError(f"unknown device {pref!r}") from exc


def describe(device: torch.device) -> str:
    """Human-readable device name for the status bar."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple MPS"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"

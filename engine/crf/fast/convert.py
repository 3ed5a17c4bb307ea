"""Host copies of large arrays in another dtype, made on torch's threads.

Why: numpy converts between float32 and float16 on one core. A capturing run converts every iteration's messages
(1.4 of 17 s at 12 MP x 5 classes on two cores; half that with torch), and a preview widens each float16 class
plane of a 12 MP image (146 of its 230 ms with numpy).
"""
from __future__ import annotations

import warnings

import numpy as np

from . import simd


def converted(values: np.ndarray, dtype, out: np.ndarray | None = None) -> np.ndarray:
    """values.astype(dtype), the same bits, written into `out` when given (its shape, of that dtype). values may
    be read-only (the app freezes the probabilities it holds): torch only reads them here."""
    import torch

    out = np.empty(values.shape, dtype) if out is None else out
    with warnings.catch_warnings():   # (torch warns once about wrapping a read-only array)
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        source = torch.from_numpy(np.ascontiguousarray(values))
    torch.from_numpy(out).copy_(source)
    return out


def kept_messages(blurred: list, dtype=np.float32) -> list:
    """Host copies (rows padded as the CPU engine's) of an iteration's blurred vertex values."""
    out = []
    for b in blurred:
        if isinstance(b, np.ndarray):
            out.append(converted(b, dtype))
        else:  # torch (GPU): copied to the host, padded
            host = b.detach().cpu().numpy()
            pad = np.zeros((host.shape[0], simd.row_width(host.shape[1])), dtype)
            pad[:, :host.shape[1]] = host
            out.append(pad)
    return out

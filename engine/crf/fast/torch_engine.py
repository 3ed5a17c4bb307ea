"""Mean-field iterations with torch ops, for CUDA (and, for testing, CPU); same lattices as the numba path.

The lattice is built once on the CPU (build_kernels) and uploaded; splat is index_add_, blur and slice are
gathers, the update is a softmax with label-group counts. On CUDA index_add_ uses atomics, so sums may differ
from run to run at the 1e-7 level; the lattice, and hence the result, is the same as pydensecrf's.
"""
from __future__ import annotations

import weakref

import numpy as np
import torch

from .lattice import Lattice

_UPLOADS: "weakref.WeakKeyDictionary[Lattice, dict]" = weakref.WeakKeyDictionary()


class _DeviceLattice:
    """A lattice's arrays on one device: offsets (N,d+1) int64, weights (N,d+1), neighbours (d+1,M,2) int64."""

    def __init__(self, lat: Lattice, device: torch.device):
        self.d1 = lat.d + 1
        self.m = lat.n_vertices
        self.alpha = float(lat.alpha)
        self.offsets = torch.from_numpy(lat.offsets).to(device=device, dtype=torch.int64)
        self.weights = torch.from_numpy(lat.weights).to(device)
        self.neighbours = torch.from_numpy(lat.neighbours).to(device=device, dtype=torch.int64)


def device_lattice(lat: Lattice, device: torch.device) -> _DeviceLattice:
    """Upload once per (lattice, device); freed with the lattice."""
    per = _UPLOADS.setdefault(lat, {})
    key = str(device)
    if key not in per:
        per[key] = _DeviceLattice(lat, device)
    return per[key]


def filter_q(dl: _DeviceLattice, q: torch.Tensor, coef: float) -> torch.Tensor:
    """coef * alpha * n * K(n * q) for q (N,G): splat, d+1 double-buffered blurs, slice."""
    n, g = q.shape
    vals = torch.zeros((dl.m + 1, g), dtype=q.dtype, device=q.device)
    for j in range(dl.d1):
        vals.index_add_(0, dl.offsets[:, j], dl.weights[:, j:j + 1] * q)
    new = torch.zeros_like(vals)
    for j in range(dl.d1):
        nb = dl.neighbours[j]
        torch.add(vals[:dl.m], 0.5 * (vals[nb[:, 0]] + vals[nb[:, 1]]), out=new[:dl.m])
        vals, new = new, vals
    out = torch.zeros_like(q)
    scale = float(np.float32(coef) * np.float32(dl.alpha))
    for j in range(dl.d1):
        out.addcmul_(dl.weights[:, j:j + 1] * scale, vals[dl.offsets[:, j]])
    return out


class TorchEngine:
    """Mean-field on `device` for prior (N,>=G) (padding columns past G = len(counts) are dropped) and Potts
    kernels [(lattice, weight)]; Q tensors stay on device."""

    kind = "torch"

    def __init__(self, prior: np.ndarray, counts: np.ndarray, terms: list[tuple[Lattice, float]],
                 device: torch.device | str = "cuda"):
        self.device = torch.device(device)
        self.prior = torch.from_numpy(np.ascontiguousarray(prior[:, :counts.shape[0]])).to(self.device)
        self.counts = torch.from_numpy(counts).to(self.device)[None, :]
        self.terms = [(device_lattice(lat, self.device), float(w)) for lat, w in terms if w != 0]

    def to_numpy(self, q: torch.Tensor) -> np.ndarray:
        return q.detach().to("cpu").numpy()

    def _softmax(self, logits: torch.Tensor) -> torch.Tensor:
        e = torch.exp(logits - logits.amax(dim=1, keepdim=True))
        return e / (e * self.counts).sum(dim=1, keepdim=True)

    @torch.no_grad()
    def initial(self) -> torch.Tensor:
        return self._softmax(self.prior)

    @torch.no_grad()
    def iterate(self, q: torch.Tensor, messages_key=None) -> torch.Tensor:
        """Q_{t+1} from Q_t (messages_key is part of the engine contract; on a GPU the filtering is cheap)."""
        logits = self.prior.clone()
        for dl, w in self.terms:
            logits += filter_q(dl, q, w)
        out = self._softmax(logits)
        if out.is_cuda:
            torch.cuda.synchronize(out.device)  # so cancellation between iterations is timely
        return out

"""Mean-field iterations with torch ops, for CUDA (and, for testing, CPU); same lattices as the numba path.

The lattice is built once on the CPU (build_kernels) and uploaded once. Splat and slice are sparse-matrix
products (CSR, built on the device: the splat matrix has a row per vertex with its pixels in ascending order,
the slice matrix a row per pixel), so no atomics are needed (an index_add_ splat measured 1.5x slower per weight
change on an H100); blur is d+1 gathers; the update is a softmax with label-group counts. The lattice, and hence
the result, is pydensecrf's to float rounding. Results are expanded to labels on the device, so only the output
(and label previews) cross to the host.
"""
from __future__ import annotations

import functools
import warnings
import weakref

import numpy as np
import torch

from ...errors import DeviceMemoryError
from .lattice import Lattice

_UPLOADS: "weakref.WeakKeyDictionary[Lattice, dict]" = weakref.WeakKeyDictionary()
_PRIORS: dict[tuple, tuple] = {}  # (id(prior array), device) -> (prior tensor, counts tensor), freed with the array
UPLOAD_COUNTS = {"lattice": 0, "prior": 0}  # for tests: a weight change must upload nothing


def _csr(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, shape: tuple) -> torch.Tensor:
    """A CSR matrix from device tensors, 32-bit indices where they fit (built here, so its invariants hold)."""
    index = torch.int32 if int(crow[-1]) < 2**31 - 1 else torch.int64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(crow.to(index), col.to(index), val, size=shape, check_invariants=False)


class _DeviceLattice:
    """A lattice on one device: CSR splat (M+1,N) and slice (N,M+1) matrices (row M: the zero row), and the
    neighbours (d+1,M,2) int64 for the blur."""

    def __init__(self, lat: Lattice, device: torch.device):
        n, d1 = lat.offsets.shape
        self.d1 = d1
        self.m = lat.n_vertices
        self.alpha = float(lat.alpha)
        self.neighbours = torch.from_numpy(lat.neighbours).to(device=device, dtype=torch.int64)
        # built on the device (a sort there takes a few ms, against hundreds on the CPU)
        off = torch.from_numpy(lat.offsets).to(device=device, dtype=torch.int64)
        w = torch.from_numpy(lat.weights).to(device)
        flat = off.reshape(-1)
        # splat: one row per vertex (plus the empty zero row M); a stable sort keeps each row's pixels ascending
        order = torch.sort(flat, stable=True).indices
        crow = torch.zeros(self.m + 2, dtype=torch.int64, device=device)
        torch.cumsum(torch.bincount(flat, minlength=self.m + 1), 0, out=crow[1:])
        self.splat_mat = _csr(crow, order // d1, w.reshape(-1)[order], (self.m + 1, n))
        # slice: one row per pixel, its d+1 vertices (column indices sorted within the row)
        cols, by_col = torch.sort(off, dim=1)
        self.slice_mat = _csr(torch.arange(0, n * d1 + 1, d1, device=device), cols.reshape(-1),
                              torch.gather(w, 1, by_col).reshape(-1), (n, self.m + 1))


def device_lattice(lat: Lattice, device: torch.device) -> _DeviceLattice:
    """Upload once per (lattice, device); freed with the lattice."""
    per = _UPLOADS.setdefault(lat, {})
    key = str(device)
    if key not in per:
        per[key] = _DeviceLattice(lat, device)
        UPLOAD_COUNTS["lattice"] += 1
    return per[key]


def device_prior(prior: np.ndarray, counts: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The prior's first len(counts) columns and the counts on `device`, uploaded once per (prior array, device).

    A session keeps its prior per probabilities, so every weight change reuses this upload (42 MB at 0.5 MP /
    21 labels). numpy arrays cannot be dict keys; the entry is keyed by id and removed when the array dies.
    """
    key = (id(prior), str(device))
    hit = _PRIORS.get(key)
    if hit is None:
        g = counts.shape[0]
        hit = (torch.from_numpy(np.ascontiguousarray(prior[:, :g])).to(device),
               torch.from_numpy(np.ascontiguousarray(counts)).to(device)[None, :])
        _PRIORS[key] = hit
        weakref.finalize(prior, _PRIORS.pop, key, None)
        UPLOAD_COUNTS["prior"] += 1
    return hit


def filter_q(dl: _DeviceLattice, q: torch.Tensor, coef: float, keep: list | None = None) -> torch.Tensor:
    """coef * alpha * n * K(n * q) for q (N,G): splat, d+1 double-buffered blurs, slice. keep: a list that gets
    the blurred vertex values (M+1,G) (local refinement keeps them, see window.py)."""
    vals = torch.sparse.mm(dl.splat_mat, q)  # (M+1, G); row M has no entries: the zero row
    new = torch.zeros_like(vals)
    for j in range(dl.d1):
        nb = dl.neighbours[j]
        torch.add(vals[:dl.m], 0.5 * (vals[nb[:, 0]] + vals[nb[:, 1]]), out=new[:dl.m])
        vals, new = new, vals
    if keep is not None:
        keep.append(vals)
    return torch.sparse.mm(dl.slice_mat, vals).mul_(float(np.float32(coef) * np.float32(dl.alpha)))


def _gpu_memory_errors(method):
    """torch's out-of-memory error -> DeviceMemoryError, which the session answers by running on the CPU."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except torch.OutOfMemoryError as exc:
            raise DeviceMemoryError(f"the GPU ({self.device}) ran out of memory for this CRF") from exc
    return wrapper


def release_device_memory() -> None:
    """After an out-of-memory error: drop the uploaded lattices and priors (a later GPU run uploads them again)
    and hand torch's cached GPU blocks back."""
    _UPLOADS.clear()
    _PRIORS.clear()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class TorchEngine:
    """Mean-field on `device` for prior (N,>=G) (padding columns past G = len(counts) are dropped) and Potts
    kernels [(lattice, weight)]; Q tensors stay on device."""

    kind = "torch"

    @_gpu_memory_errors
    def __init__(self, prior: np.ndarray, counts: np.ndarray, terms: list[tuple[Lattice, float]],
                 device: torch.device | str = "cuda"):
        self.device = torch.device(device)
        self.prior, self.counts = device_prior(prior, counts, self.device)
        self.terms = [(device_lattice(lat, self.device), float(w)) for lat, w in terms if w != 0]

    @_gpu_memory_errors
    @torch.no_grad()
    def labels(self, q: torch.Tensor, rep_label: np.ndarray) -> np.ndarray:
        """Label per pixel (N,) uint8, first maximum wins (groups are in label order): only labels leave the GPU."""
        reps = torch.from_numpy(rep_label.astype(np.int64)).to(q.device)
        return reps[torch.argmax(q, dim=1)].to(torch.uint8).cpu().numpy()

    @_gpu_memory_errors
    @torch.no_grad()
    def expand(self, q: torch.Tensor, group_of_label: np.ndarray, rep_label: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (C,N) and labels (N,) on the host; the transpose and label expansion run on the device,
        and the result is copied straight into the returned array (one host pass instead of three)."""
        labels = self.labels(q, rep_label)
        g = q.shape[1]
        qt = q.t()
        if not np.array_equal(group_of_label, np.arange(g)):
            qt = qt[torch.from_numpy(group_of_label.astype(np.int64)).to(q.device)]
        probs = np.empty((group_of_label.shape[0], q.shape[0]), np.float32)
        torch.from_numpy(probs).copy_(qt)
        return probs, labels

    def _softmax(self, logits: torch.Tensor) -> torch.Tensor:
        e = torch.exp(logits - logits.amax(dim=1, keepdim=True))
        return e / (e * self.counts).sum(dim=1, keepdim=True)

    @_gpu_memory_errors
    @torch.no_grad()
    def initial(self) -> torch.Tensor:
        return self._softmax(self.prior)

    @_gpu_memory_errors
    @torch.no_grad()
    def iterate(self, q: torch.Tensor, messages_key=None, capture=None) -> torch.Tensor:
        """Q_{t+1} from Q_t (messages_key is part of the engine contract; on a GPU the filtering is cheap).
        capture(blurred) receives each term's blurred vertex values (M+1,G), as the CPU engine's."""
        logits = self.prior.clone()
        kept = [] if capture is not None else None
        for dl, w in self.terms:
            logits += filter_q(dl, q, w, kept)
        if capture is not None:
            capture(kept)
        out = self._softmax(logits)
        if out.is_cuda:
            torch.cuda.synchronize(out.device)  # so cancellation between iterations is timely
        return out

"""The fast dense-CRF backend: our own permutohedral-lattice mean-field, matching pydensecrf's output.

Layout: features.py (pydensecrf's exact features) -> build_kernels.py + hash_kernels.py -> lattice.py (lattice +
symmetric normalisation) -> lattice_cache.py (byte-bounded caches) -> cpu_kernels.py + cpu_engine.py (numba,
threaded, GIL released; simd.py issues whole-row vector ops, buffers.py recycles big arrays, threads.py picks the
threading layer; stream.py + stream_kernels.py run large images a pixel tile at a time) or torch_engine.py
(CUDA) -> prior.py (label merging), prune.py, history.py (Q per iteration), convert.py (dtype copies on torch's
threads) -> session.py. Memory: docs/design/memory.md. Matches pydensecrf to ~1e-6 (reference dense_crf.md §1).
"""
from __future__ import annotations

import numpy as np
import torch

from engine.models.device import pick_device

from ...errors import EngineError
from .prune import PRUNE_MASS
from .session import FastSession


class FastBackend:
    """Backend contract: `.session(image_rgb)` -> FastSession with `.run(probs, params, ...)`.

    device: 'auto' (CUDA when available, else the numba CPU engine; never MPS), 'cpu', 'cuda[:i]'. engine: 'auto',
    'numba' or 'torch' (torch on the CPU is slow; it exists to check the CUDA code path without a GPU).
    previews: what on_iteration receives after each iteration: 'labels' (a function returning the label map, so
    only a caller that shows it pays for the argmax), 'probs' or None. prune_mass: classes whose combined
    probability stays below it at every pixel leave the run (prune.py; default PRUNE_MASS, 0 keeps every class).
    keep_history False: a session keeps no iteration history after a run; cache_bytes: the budget of a
    session's priors and Q_0 caches (session.PRIOR_BUDGET by default); both for a preview's session, whose
    runs are cheap to redo and which should not hold a wide model's arrays.
    """

    name = "fast"
    label = "fast lattice (exact)"
    releases_gil = True  # numba kernels run with nogil, torch releases the GIL: safe in a worker thread

    def __init__(self, device: str | None = "auto", engine: str = "auto", previews: str | None = "labels",
                 merge_labels: bool = True, prune_mass: float | None = None, keep_history: bool = True,
                 cache_bytes: int | None = None):
        self.device = pick_device(device)
        if self.device.type == "mps":  # the torch engine's sparse products are CUDA/CPU only (and untested there)
            if (device or "auto").lower() != "auto":
                raise EngineError("the fast CRF runs on a CUDA GPU or the CPU, not on Apple MPS; choose 'auto' or 'cpu'")
            self.device = torch.device("cpu")
        if engine == "auto":
            engine = "numba" if self.device.type == "cpu" else "torch"
        if engine not in ("numba", "torch"):
            raise ValueError(f"unknown fast-CRF engine {engine!r}; use 'numba' or 'torch'")
        if engine == "numba" and self.device.type != "cpu":
            raise ValueError("the numba engine runs on the CPU; use engine='torch' for GPUs")
        self.engine = engine
        self.previews = previews
        self.merge_labels = merge_labels
        self.prune_mass = PRUNE_MASS if prune_mass is None else float(prune_mass)
        self.keep_history, self.cache_bytes = keep_history, cache_bytes   # (FastSession: what a session keeps)

    def _factory(self):
        if self.engine == "numba":
            from .cpu_engine import CpuEngine
            return CpuEngine
        from .torch_engine import TorchEngine
        device = self.device
        return lambda prior, counts, terms: TorchEngine(prior, counts, terms, device=device)

    def session(self, image_rgb: np.ndarray) -> FastSession:
        fallback = None
        if self.engine == "torch" and self.device.type != "cpu":  # out of GPU memory: the numba engine
            from .cpu_engine import CpuEngine
            from .torch_engine import release_device_memory
            fallback = (CpuEngine, "numba:cpu", release_device_memory)
        return FastSession(image_rgb, self._factory(), engine_tag=f"{self.engine}:{self.device}",
                           previews=self.previews, merge_labels=self.merge_labels, fallback=fallback,
                           prune_mass=self.prune_mass, keep_history=self.keep_history,
                           cache_bytes=self.cache_bytes)


def warm_up() -> None:
    """Load the compiled numba kernels (compile them, ~30 s, the first time after install) with a tiny CPU run.

    Call it from a background thread at start so the first real CRF does not pay for it.
    """
    from ..params import CRFParams

    image = np.zeros((9, 11, 3), np.uint8)
    image[:, 5:] = 200
    probs = np.full((2, 9, 11), 0.5, np.float32)
    probs[0, :, 5:], probs[1, :, 5:] = 0.2, 0.8
    FastBackend(device="cpu").session(image).run(probs, CRFParams())
    # the kernels of large images' streamed runs (stream_kernels: 4 s to compile) and of the xy kernel's grid
    # lattice they take (grid_lattice; another size, so no stored xy lattice is at hand), here rather than in the
    # first large image's exact run
    from .cpu_engine import CpuEngine
    FastSession(image[1:], CpuEngine, "numba:cpu", big_bytes=0).run(probs[:, 1:].astype(np.float16), CRFParams(),
                                                                    compact=True)


__all__ = ["FastBackend", "FastSession", "warm_up"]

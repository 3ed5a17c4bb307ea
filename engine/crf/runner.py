"""How the app runs a CRF backend: in the calling (worker) thread when the backend releases the
GIL, in a child process when it does not (engine.crf.isolated), keeping the current image's session
(its lattice caches) between runs so slider changes reuse them. Qt-free; one caller thread at a time.
"""
from __future__ import annotations

import numpy as np

from engine.crf import PRESETS, get_backend
from engine.crf.base import CRFResult
from engine.crf.constraints import constrain_result, hard_unary_probs, run_constrained
from engine.crf.isolated import IsolatedCRF, needs_process


class CRFRunner:
    def __init__(self, backend_name: str | None = None):
        self._backend = get_backend(backend_name)  # EngineError for an unknown name
        self.name = backend_name or self._backend.name
        self.isolated = IsolatedCRF(self.name) if needs_process(self._backend) else None
        self._session = (None, None)               # (image key, session)

    @property
    def backend(self):
        return self._backend

    def session(self, image_key, image_rgb: np.ndarray):
        """The in-process session of image_key (a new key drops the cached one); None for an isolated backend."""
        if self.isolated is not None:
            return None
        if self._session[0] != image_key:
            self._release()
            self._session = (image_key, self._backend.session(image_rgb))
        return self._session[1]

    def _release(self) -> None:
        """The image left behind: what only it could reuse goes from the process-wide caches now (its bilateral
        lattice, iteration histories, priors), not when their budgets push it out. A walk stepping through 100
        small images held 350 MB of their lattices and 620 MB of histories; a revisit builds them again (a
        prefetched image's solution keeps its own lattices alive, lattice_cache.LIVE)."""
        old = self._session[1]
        if old is not None and hasattr(old, "release"):
            old.release()

    def run(self, image_key, image_rgb: np.ndarray, probs: np.ndarray, params, should_cancel=None,
            on_iteration=None, locks=None, capture: bool = False, compact: bool = False) -> CRFResult:
        """CRF of ``probs`` (C,H,W) on ``image_rgb`` (H,W,3 uint8); image_key names the image (a new
        key drops the cached session). locks = (labels, locked): hand edits as hard constraints
        (engine.crf.constraints). capture: let the fast session keep what local refinement needs;
        compact: it may return CompactProbs (others return float32 probabilities regardless)."""
        if self.isolated is not None:
            probs = np.asarray(probs, np.float32)  # (pydensecrf's child takes float32)
            run_probs = probs if locks is None else hard_unary_probs(probs, *locks)
            result = self.isolated.run(image_key, image_rgb, run_probs, params, should_cancel=should_cancel,
                                       on_iteration=on_iteration)
            return result if locks is None else constrain_result(result, *locks)
        session = self.session(image_key, image_rgb)
        if getattr(session, "takes_locks", False):  # the fast engine: constraints and capture are its own
            return session.run(probs, params, should_cancel=should_cancel, on_iteration=on_iteration, locks=locks,
                               capture=capture, compact=compact)
        if locks is None:
            return session.run(probs, params, should_cancel=should_cancel, on_iteration=on_iteration)
        return run_constrained(session, probs, params, locks[0], locks[1], should_cancel=should_cancel,
                               on_iteration=on_iteration)

    def warm_up(self) -> None:
        """A backend's first run in a process loads its compiled kernels while holding the GIL
        (~0.1 s; longer on a cold numba cache): do it once at start-up on a tiny input. For an
        isolated backend: start the child and wait until it has imported everything."""
        if self.isolated is not None:
            self.isolated.warm_up()
            return
        probs = np.full((2, 8, 8), 0.5, np.float32)
        self._backend.session(np.zeros((8, 8, 3), np.uint8)).run(probs, PRESETS["deeplab-v1"].replace(iterations=1))

    def prestart(self) -> None:
        """Start an isolated backend's process ahead of need (never blocks)."""
        if self.isolated is not None:
            self.isolated.start()

    def close(self) -> None:
        if self.isolated is not None:
            self.isolated.close()
        self._session = (None, None)

"""The fast backend's per-image session: exact pydensecrf results, with every reuse an interactive tuner needs.

run() = prior (cached per probabilities, labels with identical unaries merged) + Gaussian lattice (cached per
size and sxy) + bilateral lattice (cached per image and sigmas) + a History of Q per iteration (cached per
weights). A weight change reuses both lattices; an iteration change reuses the history; a sigma change rebuilds
only its own lattice. Cancellation is checked between iterations; progress is reported after each.
"""
from __future__ import annotations

import threading

import numpy as np

from ...errors import DeviceMemoryError, check_cancel
from ..base import CRFResult, as_probs, check_image, check_inputs, check_probs
from ..params import CRFParams
from . import lattice_cache as lc
from .cache import ByteLRU
from .history import HISTORIES, History
from .prior import Prior, make_prior, probs_key
from .threads import PARALLEL_LOCK

PRIOR_BUDGET = 384 << 20


class FastSession:
    """One image. `engine_factory(prior, counts, terms)` makes the mean-field engine (CPU numba or torch)."""

    def __init__(self, image_rgb: np.ndarray, engine_factory, engine_tag: str, previews: str | None = "labels",
                 merge_labels: bool = True, fallback: tuple | None = None):
        image = check_image(image_rgb)
        self.image = np.ascontiguousarray(image).copy()  # our own copy: the lattice cache keys on its content
        self.height, self.width = self.image.shape[:2]
        self.image_key = lc.image_key(self.image)
        self._engine_factory = engine_factory
        self._engine_tag = engine_tag
        self._fallback = fallback  # (factory, tag, release): where to go when the GPU runs out of memory
        self.note = ""  # passed on in every CRFResult (e.g. that the GPU ran out of memory)
        if previews not in (None, "labels", "probs"):
            raise ValueError(f"previews must be None, 'labels' or 'probs', got {previews!r}")
        self.previews = previews
        self.merge_labels = merge_labels
        self._priors = ByteLRU(PRIOR_BUDGET)
        self._q0 = ByteLRU(PRIOR_BUDGET)  # softmax(prior): the same for every weight and sigma
        self._lock = threading.Lock()
        self.last_stats: dict = {}
        self._kept_keys: set = set()  # (cache, key) this session put in the process-wide caches (see release)

    # ---- cached pieces ----
    def _prior(self, probs: np.ndarray) -> Prior:
        key = (probs_key(probs), self.merge_labels)
        # values are checked once per distinct probabilities (a pass over them), when their prior is built
        return self._priors.get_or_build(key, lambda: (check_probs(probs),
                                                       make_prior(probs, key=key, merge=self.merge_labels))[1])

    def _terms(self, params: CRFParams) -> tuple[list, tuple]:
        terms, keys = [], []
        if params.pos_w != 0:
            key, lat = lc.gaussian_lattice(self.height, self.width, params.pos_xy_std)
            terms.append((lat, params.pos_w))
            keys.append((key, float(np.float32(params.pos_w))))
        if params.bi_w != 0:
            key, lat = lc.bilateral_lattice(self.image, self.image_key, params.bi_xy_std, params.bi_rgb_std)
            self._kept_keys.add(("bilateral", key))
            terms.append((lat, params.bi_w))
            keys.append((key, float(np.float32(params.bi_w))))
        return terms, tuple(keys)

    def _history(self, prior: Prior, params: CRFParams) -> History:
        terms, term_keys = self._terms(params)
        key = (self._engine_tag, prior.key, term_keys)
        hist = HISTORIES.get(key)
        if hist is None:
            hist = History(self._engine_factory(prior.prior, prior.counts, terms))
            HISTORIES.put(key, hist)
        hist.key = key
        hist.lattice_keys = tuple(k for k, _ in term_keys)
        self._kept_keys.add(("history", key))
        return hist

    def release(self) -> None:
        """Forget what only this image can reuse: its bilateral lattices, iteration histories and priors. A batch
        run calls it after each image, since it never comes back to one; the Gaussian lattice (per image size)
        stays for the next image, and the history's arrays go back to the buffer pool."""
        with self._lock:
            for cache, key in self._kept_keys:
                if cache == "bilateral":
                    lc.BILATERAL_LATTICES.pop(key)
                else:
                    hist = HISTORIES.pop(key)
                    if hist is not None:
                        with hist.lock:
                            hist.release()
            self._kept_keys.clear()
            self._priors.clear()
            self._q0.clear()

    # ---- the backend contract ----
    def run(self, probs, params: CRFParams, should_cancel=None, on_iteration=None) -> CRFResult:
        """Refine softmax probabilities (C,H,W) float32 -> CRFResult(probs (C,H,W) float32, labels (H,W) uint8).

        on_iteration(i, n, preview) after each computed iteration and once at the end. With previews='labels',
        preview is a function that returns the label map (H,W) uint8 of Q_i: one argmax (about 7 ms at 0.5 MP /
        21 labels), paid only if called, and only valid during the on_iteration call. With 'probs' it is Q_i's
        probabilities (C,H,W); with None, None. The final call always passes the result's probabilities.
        should_cancel() between iterations raises Cancelled.
        If the GPU runs out of memory, the run is redone on the CPU, which this session then keeps using; the
        failed attempt's GPU caches are dropped and the result's note says what happened.
        """
        try:
            return self._run_once(probs, params, should_cancel, on_iteration)
        except DeviceMemoryError as exc:
            if self._fallback is None:
                raise
            self._engine_factory, self._engine_tag, release = self._fallback
            self._fallback = None
            self.note = f"{exc}; this image's CRF runs on the CPU"
            HISTORIES.clear()  # rare: drop every kept GPU iteration (CPU ones are recomputed on demand)
            self._q0.clear()
            release()
            return self._run_once(probs, params, should_cancel, on_iteration)

    def _run_once(self, probs, params: CRFParams, should_cancel, on_iteration) -> CRFResult:
        """run() on the current engine."""
        probs = as_probs(probs)
        check_inputs(self.image, probs, params)
        n_iter = int(params.iterations)
        with self._lock, PARALLEL_LOCK:
            check_cancel(should_cancel)
            prior = self._prior(probs)
            check_cancel(should_cancel)
            hist = self._history(prior, params)
            check_cancel(should_cancel)
            with hist.lock:
                q = self._advance(hist, prior, n_iter, should_cancel, on_iteration)
            HISTORIES.resize(hist.key)
            out_probs, labels = self._expand(hist.engine, q, prior)
        if on_iteration is not None:
            on_iteration(n_iter, n_iter, out_probs)
        return CRFResult(out_probs, labels, self.note)

    def _advance(self, hist: History, prior: Prior, n_iter: int, should_cancel, on_iteration):
        """Q_{n_iter}, from the nearest kept iteration below it."""
        eng = hist.engine
        start = hist.start_for(n_iter)
        computed = 0
        if start is None:
            q0_key = (self._engine_tag, prior.key)
            t, q = 0, self._q0.get(q0_key)
            if q is None:
                q = eng.initial()
                self._q0.put(q0_key, q)
            hist.keep(0, q)
        else:
            t, q = start
        while t < n_iter:
            check_cancel(should_cancel)
            # Q_0 is the same for every weight setting, and so is its filtering: engines may keep it under this key
            messages_key = (self._engine_tag, prior.key, hist.lattice_keys) if t == 0 else None
            q = eng.iterate(q, messages_key=messages_key)
            t += 1
            computed += 1
            hist.keep(t, q)
            if on_iteration is not None and t < n_iter:
                on_iteration(t, n_iter, self._preview(eng, q, prior))
        self.last_stats = {"groups": prior.n_groups, "labels": prior.n_labels, "computed_iterations": computed,
                           "engine": eng.kind, "mode": getattr(eng, "mode", eng.kind)}
        return q

    def _expand(self, eng, q, prior: Prior) -> tuple[np.ndarray, np.ndarray]:
        """Engine Q -> probabilities (C,H,W) float32 and labels (H,W) uint8 on the host."""
        probs, labels = eng.expand(q, prior.group_of_label, prior.rep_label)
        return probs.reshape(-1, self.height, self.width), labels.reshape(self.height, self.width)

    def _preview(self, eng, q, prior: Prior):
        if self.previews == "labels":
            return lambda: eng.labels(q, prior.rep_label).reshape(self.height, self.width)
        if self.previews == "probs":
            return self._expand(eng, q, prior)[0]
        return None

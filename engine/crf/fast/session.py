"""The fast backend's per-image session: exact pydensecrf results, with every reuse an interactive tuner needs.

run() = prior (cached per probabilities, labels with identical unaries merged) + Gaussian lattice (cached per
size and sxy) + bilateral lattice (cached per image and sigmas) + a History of Q per iteration (cached per
weights). A weight change reuses both lattices; an iteration change reuses the history; a sigma change rebuilds
only its own lattice. Cancellation is checked between iterations (and, streamed, before every tile); progress
is reported after each.
On the CPU, an image whose prior would pass BIG_BYTES runs streamed (stream.py): its prior and Q are made a pixel
tile at a time, only its label groups are cached, and no history is kept (docs/design/memory.md).
"""
from __future__ import annotations

import threading

import numpy as np

from ...errors import DeviceMemoryError, EngineError, check_cancel
from ..base import CRFResult, as_probs, check_image, check_inputs, check_probs, progress_only, wants_preview
from ..compact import CompactProbs
from ..constraints import enforce_locks
from ..params import CRFParams
from . import cpu_kernels as ck
from . import lattice_cache as lc
from . import results, simd
from . import window as win
from .cache import ByteLRU
from .convert import kept_messages
from .cpu_engine import Q0_MESSAGES, CpuEngine, KeptMessages
from .grid_lattice import GridLattice, cell_count
from .history import HISTORIES, History
from .prior import Prior, lock_pixels, locks_key, make_prior, probs_key
from .prune import PRUNE_LADDER, PRUNE_MASS, PruneCache
from .stream import StreamEngine, StreamPrior, fuses, vertex_bytes

PRIOR_BUDGET = 384 << 20
KEPT_PER_IMAGE = 8   # priors, Q_0s and iteration histories an image keeps (the newest): a walk's 80 strokes on a
#                      320x240 image kept 161 priors and 20 histories, 1.6 GB more, of which only the last are used
BIG_BYTES = 96 << 20  # a prior larger than this (e.g. 1 MP x 21 labels) on the CPU: streamed (stream.py), no history
TRAJECTORY_FLOAT32 = 384 << 20  # messages kept for local refinement: float32 up to this (as float32 bytes),
TRAJECTORY_BUDGET = 1536 << 20  # float16 up to this (6 MP x 21 distinct labels: about 1.3 GB), none above
HELD_PRIOR_BYTES = 512 << 20  # a streamed run holds the (N, W) prior of float16 probabilities up to this (below)
STREAM_BYTES = 5 << 29  # a streamed run's vertex buffers (stream.vertex_bytes): above it, faint classes are pruned
#   at up to 0.1. 2.5 GB: 6 MP x 21 classes (v2 preset) keeps two buffers (2.2 GB), exact and as fast (pydensecrf fits
#   there and is compared); 12 MP with the v2 preset prunes to 16-float rows, as with 3 GB before the grid was fused


def _pruning(prior: Prior | StreamPrior) -> dict:
    """What a run's prior pruned: the combined mass it was made with (the fourth part of its key, _prior) and how
    many classes left the CRF at it."""
    return {"prune_mass": prior.key[3], "pruned": 0 if prior.pruned is None else int(prior.pruned.sum())}


class FastSession:
    """One image. `engine_factory(prior, counts, terms)` makes the mean-field engine (CPU numba or torch)."""

    def __init__(self, image_rgb: np.ndarray, engine_factory, engine_tag: str, previews: str | None = "labels",
                 merge_labels: bool = True, fallback: tuple | None = None, prune_mass: float = PRUNE_MASS,
                 big_bytes: int | None = None, keep_history: bool = True, cache_bytes: int | None = None):
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
        self.prune_mass = float(prune_mass) if merge_labels else 0.0  # prune.py; 0: every class keeps its row
        self._prune_cache = PruneCache()  # which classes leave a run, and their shared row, per probabilities and mass
        budget = PRIOR_BUDGET if cache_bytes is None else int(cache_bytes)   # (a preview's session: less)
        self._priors = ByteLRU(budget, max_items=KEPT_PER_IMAGE)
        self._groups: list = []  # [(prior key, groups)] of the last streamed priors (a few small arrays each)
        self._q0 = ByteLRU(budget, max_items=KEPT_PER_IMAGE)  # softmax(prior): the same for every weight and sigma
        self._histories: list = []   # this image's history keys, oldest first (KEPT_PER_IMAGE of them stay)
        self.keep_history = keep_history  # False: no iteration history is kept after a run (a preview's session)
        self._lock = threading.Lock()
        self.last_stats: dict = {}
        self._kept_keys: set = set()  # (cache, key) this session put in the process-wide caches (see release)
        self._checked: list = []  # probs keys whose values passed check_probs
        self._trajectory: tuple = (None, {})  # (history key, {t: blurred per term}) of the last capturing run
        self._last = None
        self._big_bytes = big_bytes  # None: BIG_BYTES (read at each run); 0: every run streamed (warm_up)

    @property
    def big_bytes(self) -> int:
        """Priors above this many bytes run streamed on the CPU (BIG_BYTES unless the session was made with
        another bound)."""
        return BIG_BYTES if self._big_bytes is None else self._big_bytes

    takes_locks = True  # run(locks=...) applies hand-edit constraints itself (engine.crf.constraints uses it)

    # ---- cached pieces ----
    def _prior(self, probs: np.ndarray, locks=None, mass: float | None = None) -> Prior | StreamPrior:
        """The prior of probs under locks: a Prior (N, W) float32, or for a large image on the CPU a StreamPrior
        (rows computed tile by tile, nothing of size N x W held; label groups cached). mass: the combined
        probability of the classes pruned (prune.py; the session's prune_mass unless a wider run needs more)."""
        pkey = probs_key(probs)
        mass = self.prune_mass if mass is None else mass
        key = (pkey, locks_key(locks), self.merge_labels, mass)
        n = probs.shape[1] * probs.shape[2]
        if self._engine_factory is not CpuEngine or n * simd.row_width(probs.shape[0]) * 4 <= self.big_bytes:
            def build() -> Prior:
                self._check_once(probs, pkey)
                pruned = self._prune_cache.negligible(probs, pkey, mass)
                return make_prior(probs, key=key, merge=self.merge_labels, locks=locks, pruned=pruned,
                                  rest=self._prune_cache.rest(probs, pkey, mass, pruned))
            return self._priors.get_or_build(key, build)
        prior = self._priors.get(key)
        if prior is not None:
            return prior
        self._check_once(probs, pkey)
        groups = dict(self._groups).get(key)
        pruned = self._prune_cache.negligible(probs, pkey, mass)
        src = StreamPrior(probs, key, locks, merge=self.merge_labels, groups=groups, pruned=pruned,
                          rest=self._prune_cache.rest(probs, pkey, mass, pruned))
        if groups is None:
            groups = (src.counts, src.group_of_label, src.rep_label)
            self._groups = [(k, g) for k, g in self._groups if k != key][-3:] + [(key, groups)]
        if n * src.width * 4 <= self.big_bytes:  # few distinct labels: small enough to keep, with its history
            prior = src.materialise()
            self._priors.put(key, prior)
            return prior
        return src

    def _fitted(self, prior: StreamPrior, terms: list, probs: np.ndarray, locks) -> Prior | StreamPrior:
        """The streamed prior whose vertex buffers fit STREAM_BYTES: when the session's pruning leaves rows too wide
        for these lattices (182 classes whose faint ones are not all below 1e-4, or the DeepLab v2 preset's
        lattices at 12 MP), faint classes are pruned at the next combined mass of PRUNE_LADDER that fits, or at
        its last (docs/crf.md states the error each allows)."""
        lats = [lat for lat, w in terms if w != 0]

        def fits(groups: int) -> bool:
            width = simd.row_width(groups)
            return vertex_bytes(lats, width, fuses(lats, width, STREAM_BYTES)) <= STREAM_BYTES

        if self.prune_mass <= 0 or fits(prior.n_groups):
            return prior
        pkey = probs_key(probs)
        for mass in (m for m in PRUNE_LADDER if m > self.prune_mass):
            pruned = self._prune_cache.negligible(probs, pkey, mass)
            bound = int((~pruned).sum()) + int(pruned.any())   # groups at most (identical rows merge further)
            if fits(bound) or mass == PRUNE_LADDER[-1]:
                wider = self._prior(probs, locks, mass)
                return wider if wider.n_groups < prior.n_groups else prior
        return prior

    def _check_once(self, probs: np.ndarray, pkey) -> None:
        """Values checked once per distinct probabilities (a pass over them), not again for every stroke's locks."""
        if pkey not in self._checked:
            check_probs(probs)
            self._checked = (self._checked + [pkey])[-8:]

    def _xy_on_grid(self, params: CRFParams, bilateral, capture: bool, groups: int, n_iter: int) -> bool:
        """Whether a streamed run takes the xy kernel on the grid (grid_lattice.py): when no stored xy lattice is
        cached or held for these settings (one that is costs nothing) and the run keeps no history (local windows
        slice stored lattices): it does not capture, or its messages would be over the trajectory's budget."""
        if params.pos_w == 0 or lc.held(lc.gaussian_key(self.height, self.width, params.pos_xy_std)):
            return False
        if not capture:
            return True
        vertices = cell_count(self.height, self.width, params.pos_xy_std) + (0 if bilateral is None else
                                                                             bilateral.n_vertices + 1)
        return self._trajectory_dtype_for(vertices, groups, n_iter) is None

    def _terms(self, params: CRFParams, grid=False) -> tuple[list, tuple]:
        """[(lattice, weight)] and their keys. grid: the xy kernel as a grid_lattice.GridLattice (no hashing, no
        neighbour lists; lattice_cache.gaussian_grid) where one can be made: a bool, or a function of the bilateral
        lattice (built first) that says."""
        terms, keys = [], []
        bilateral = None
        if params.bi_w != 0:
            bi_key, bilateral = lc.bilateral_lattice(self.image, self.image_key, params.bi_xy_std, params.bi_rgb_std)
            self._kept_keys.add(("bilateral", bi_key))
        grid = grid(bilateral) if callable(grid) else grid
        made = lc.gaussian_grid(self.height, self.width, params.pos_xy_std) if grid and params.pos_w != 0 else None
        if made is not None:
            terms.append((made[1], params.pos_w))
            keys.append((made[0], float(np.float32(params.pos_w))))
        elif params.pos_w != 0:
            key, lat = lc.gaussian_lattice(self.height, self.width, params.pos_xy_std)
            terms.append((lat, params.pos_w))
            keys.append((key, float(np.float32(params.pos_w))))
        if bilateral is not None:
            terms.append((bilateral, params.bi_w))
            keys.append((bi_key, float(np.float32(params.bi_w))))
        return terms, tuple(keys)

    def _history(self, prior: Prior, params: CRFParams) -> History:
        terms, term_keys = self._terms(params)
        key = (self._engine_tag, prior.key, term_keys)
        hist = HISTORIES.get(key)
        if hist is None:
            hist = History(self._engine_factory(prior.prior, prior.counts, terms))
            HISTORIES.put(key, hist)
            self._histories = [k for k in self._histories if k != key and k in HISTORIES] + [key]
            for old in self._histories[:-KEPT_PER_IMAGE]:
                self._drop_history(old)
            self._histories = self._histories[-KEPT_PER_IMAGE:]
        hist.key = key
        hist.lattice_keys = tuple(k for k, _ in term_keys)
        self._kept_keys.add(("history", key))
        hist.terms = terms
        hist.groups = (prior.counts, prior.group_of_label, prior.rep_label, prior.pruned, _pruning(prior)["prune_mass"])
        return hist

    @staticmethod
    def _drop_history(key) -> None:
        hist = HISTORIES.pop(key)
        if hist is not None:
            with hist.lock:
                hist.release()

    def release(self) -> None:
        """Forget what only this image can reuse (bilateral lattices, histories, Q_0's messages, priors): a batch run
        after each image, the window's runner on moving to another (engine.crf.runner). The Gaussian lattice (per
        image size) stays for the next image; the history's arrays go back to the buffer pool."""
        with self._lock:
            for cache, key in self._kept_keys:
                if cache == "bilateral":
                    lc.BILATERAL_LATTICES.pop(key)
                elif cache == "q0":
                    Q0_MESSAGES.pop(key)
                    Q0_MESSAGES.pop((key, "shared"))   # (the in-memory engine's own key for it: cpu_engine.iterate)
                else:
                    self._drop_history(key)
            self._kept_keys.clear()
            self._histories = []
            self._priors.clear()
            self._groups = []
            self._q0.clear()
            self._trajectory, self._last = (None, {}), None
            self._prune_cache.clear()

    # ---- the backend contract ----
    def run(self, probs, params: CRFParams, should_cancel=None, on_iteration=None, locks=None,
            capture: bool = False, compact: bool = False) -> CRFResult:
        """Refine softmax probabilities (C,H,W) float32 -> CRFResult(probs (C,H,W) float32, labels (H,W) uint8).

        locks = (labels (H,W) uint8, locked (H,W) bool): hand edits as hard constraints, exactly as
        constraints.run_constrained applies them to any backend (one-hot unary, labels and probabilities of
        locked pixels set afterwards), without copying the probabilities. capture: keep what solution() needs
        for local refinement (every iteration's messages; memory: see window.Solution). compact: the result's
        probabilities as CompactProbs (bytes) and its uncertainty computed here, never a (C,H,W) float32 array.
        probs may be float16 (large images keep them so): the unary is computed from them, class by class.
        on_iteration(i, n, preview) after each computed iteration and once at the end. With previews='labels',
        preview is a function that returns the label map (H,W) uint8 of Q_i: one argmax (about 7 ms at 0.5 MP /
        21 labels), paid only if called, and only valid during the on_iteration call. With 'probs' it is Q_i's
        probabilities (C,H,W); with None, None. The final call always passes the result's probabilities.
        should_cancel() between iterations raises Cancelled.
        If the GPU runs out of memory, the run is redone on the CPU, which this session then keeps using; the
        failed attempt's GPU caches are dropped and the result's note says what happened.
        """
        try:
            return self._run_once(probs, params, should_cancel, on_iteration, locks, capture, compact)
        except DeviceMemoryError as exc:
            if self._fallback is None:
                raise
            self._engine_factory, self._engine_tag, release = self._fallback
            self._fallback = None
            self.note = f"{exc}; this image's CRF runs on the CPU"
            HISTORIES.clear()  # rare: drop every kept GPU iteration (CPU ones are recomputed on demand)
            self._q0.clear()
            release()
            return self._run_once(probs, params, should_cancel, on_iteration, locks, capture, compact)

    def _run_once(self, probs, params: CRFParams, should_cancel, on_iteration, locks, capture,
                  compact=False) -> CRFResult:
        """run() on the current engine."""
        probs = as_probs(probs, keep_half=True)
        check_inputs(self.image, probs, params)
        hard = lock_pixels(locks, probs.shape[0], probs.shape[1:])
        n_iter = int(params.iterations)
        relay = on_iteration
        if on_iteration is not None and not wants_preview(on_iteration):   # no previews made for it
            relay = progress_only(lambda i, n, preview: on_iteration(i, n, None))
        elif locks is not None and on_iteration is not None:
            def relay(i, n, preview):
                if callable(preview):
                    labels_of = preview
                    preview = lambda: enforce_locks(labels_of(), *locks)  # noqa: E731
                on_iteration(i, n, preview)
        with self._lock:  # (kernels take PARALLEL_LOCK one launch at a time: another session's run interleaves, and
            check_cancel(should_cancel)  # a callback that waits, e.g. prefetch yielding to the open image, blocks none)
            prior = self._prior(probs, locks)
            check_cancel(should_cancel)
            if isinstance(prior, StreamPrior):
                terms = self._terms(params, grid=lambda bilateral: self._xy_on_grid(params, bilateral, capture,
                                                                                     prior.n_groups, n_iter))
                grid = any(isinstance(lat, GridLattice) for lat, _ in terms[0])
                prior = self._fitted(prior, terms[0], probs, locks)   # (narrowed, it may be small enough to hold)
                if grid and capture and self._trajectory_dtype(terms[0], prior.n_groups, n_iter) is not None:
                    terms = self._terms(params)   # (narrowed, its history can be kept: stored lattices after all)
                check_cancel(should_cancel)
            if isinstance(prior, StreamPrior):
                out_probs, labels, unc = self._streamed(prior, params, terms, should_cancel, relay, capture, compact,
                                                        locks)
            else:
                out_probs, labels, unc = self._in_memory(prior, params, should_cancel, relay, capture, compact, locks)
        if hard is not None:  # what constraints.constrain_result does, in place
            idx, cls = hard
            if compact:
                out_probs.lock(idx, cls)
            else:
                flat = out_probs.reshape(out_probs.shape[0], -1)
                flat[:, idx] = 0
                flat[cls, idx] = 1.0
            labels = enforce_locks(labels, *locks)
            if unc is not None:
                unc.reshape(-1)[idx] = 0.0  # one-hot: certain
        if on_iteration is not None:
            on_iteration(n_iter, n_iter, out_probs)
        note, pruning = self.note, _pruning(prior)
        if pruning["prune_mass"] > self.prune_mass and pruning["pruned"]:   # (_fitted: a wide run pruned more)
            note = "; ".join(x for x in (note, f"{pruning['pruned']} faint classes, under {pruning['prune_mass']:g} "
                                               "together, left the CRF to fit memory") if x)
        return CRFResult(out_probs, labels, note, unc)

    def _in_memory(self, prior: Prior, params: CRFParams, should_cancel, relay, capture, compact, locks):
        """(probabilities, labels, uncertainty or None) of a run on an (N, W) prior with the session's engine,
        through an iteration history."""
        n_iter = int(params.iterations)
        hist = self._history(prior, params)
        check_cancel(should_cancel)
        with hist.lock:
            q = self._advance(hist, prior, n_iter, should_cancel, relay, capture)
        if prior.prior.nbytes > self.big_bytes or not self.keep_history:  # a large image keeps no history (its Q
            HISTORIES.pop(hist.key)   # and prior are ~0.2-1 GB each; previews, not the iteration slider, make it
            #                           interactive), nor does a preview's session
        else:
            HISTORIES.resize(hist.key)
        kept = self._trajectory[0] == hist.key  # the lattices only with messages (else a cache may have let them go)
        self._last = (params, hist.key, list(hist.terms) if kept else [], hist.groups, locks)  # not hist: Q may go
        if compact:
            out_probs, labels, unc = results.compact(q, prior, (self.height, self.width))
        else:
            (out_probs, labels), unc = results.full(hist.engine, q, prior, (self.height, self.width)), None
        return out_probs, labels, unc

    def _streamed(self, prior: StreamPrior, params: CRFParams, terms: tuple, should_cancel, relay, capture, compact,
                  locks):
        """(probabilities, labels, uncertainty or None) of a streamed run (stream.py): Q never held whole; what
        the last sweep gives is expanded tile by tile into the result."""
        n_iter = int(params.iterations)
        terms, term_keys = terms
        key = (self._engine_tag, prior.key, term_keys)
        if prior.flat.dtype != np.float16 or prior.n_points * prior.width * 4 <= HELD_PRIOR_BYTES:
            prior.hold()  # (float32 probabilities, below 4 MP in the app, and small float16 ones; dropped after)
        eng = StreamEngine(prior, terms, fuse=fuses([lat for lat, _ in terms], prior.width, STREAM_BYTES))
        dtype = self._trajectory_dtype(terms, prior.n_groups, n_iter) if capture and eng.terms else None
        traj = {} if dtype is not None else None
        self._trajectory = (None, {})  # (the last run's messages go before this run's are made)
        n, gol, rep = prior.n_points, prior.group_of_label, prior.rep_label
        preview, consumer = None, None
        if wants_preview(relay) and self.previews is not None:   # (progress only: no labels made per pass)
            if self.previews == "labels":
                shown = np.empty(n, np.uint8)
                consumer = lambda a, b, q: ck.argmax_labels(q, rep, shown[a:b])
                preview = lambda: shown.reshape(self.height, self.width)
            else:
                shown = np.empty((prior.n_labels, n), np.float32)
                consumer = lambda a, b, q: ck.expand(q, gol, rep, shown[:, a:b], np.empty(b - a, np.uint8))
                preview = shown.reshape(-1, self.height, self.width)
        q0_key = ("streamed", self._engine_tag, prior.key, prior.group_of_label.tobytes(),   # (no weights: Q_0's
                  None if prior.pruned is None else prior.pruned.tobytes(),  # messages are the same for all)
                  tuple(k for k, _ in term_keys))
        self._kept_keys.add(("q0", q0_key))
        try:
            for t in range(n_iter if eng.terms else 0):
                check_cancel(should_cancel)
                kept = Q0_MESSAGES.get(q0_key) if t == 0 else None
                if kept is not None:
                    eng.seed(kept)   # a weight change (a slider) skips a pass and a blur
                else:
                    eng.sweep(consumer if t > 0 else None, should_cancel=should_cancel)  # Q_t, splatted
                    if t > 0 and relay is not None:
                        relay(t, n_iter, preview)
                    check_cancel(should_cancel)
                    eng.blur()
                    if t == 0 and sum(b.nbytes for b in eng.blurred) <= Q0_MESSAGES.budget:
                        Q0_MESSAGES.put(q0_key, KeptMessages([b.copy() for b in eng.blurred]))
                if traj is not None:
                    traj[t] = kept_messages(eng.blurred, dtype)
            labels = np.empty(n, np.uint8)
            if compact:
                out, codes = CompactProbs.grouped(gol, (self.height, self.width))   # (a plane per label group)
                unc = np.empty(n, np.float32)
                eng.sweep(lambda a, b, q: ck.expand_compact(q, gol, rep, prior.counts, codes[:, a:b], labels[a:b],
                                                            unc[a:b]), splat=False)
                unc = unc.reshape(self.height, self.width)
            else:
                out, unc = np.empty((prior.n_labels, n), np.float32), None
                eng.sweep(lambda a, b, q: ck.expand(q, gol, rep, out[:, a:b], labels[a:b]), splat=False)
                out = out.reshape(-1, self.height, self.width)
        finally:
            eng.release()
            prior.release()
        if traj is not None:
            self._trajectory = (key, traj)
        self._last = (params, key, list(terms) if traj is not None else [],
                      (prior.counts, gol, rep, prior.pruned, _pruning(prior)["prune_mass"]), locks)
        self.last_stats = {"groups": prior.n_groups, "labels": prior.n_labels, "computed_iterations": n_iter,
                           "engine": eng.kind, "mode": eng.mode, **_pruning(prior)}
        return out, labels.reshape(self.height, self.width), unc

    # ---- local refinement (window.py) ----
    def solution(self) -> win.Solution | None:
        """The whole-image state of the last run, for refine_window, if that run captured its messages (run with
        capture=True) and they are all kept; else None. The solution takes them over (the session forgets them)."""
        if self._last is None:
            return None
        params, hist_key, terms, groups, locks = self._last
        key, traj = self._trajectory
        n = int(params.iterations)
        if key != hist_key or any(t not in traj for t in range(n)) or not terms:
            return None
        self._trajectory = (None, {})
        self._last = (params, hist_key, [], groups, locks)  # the solution holds the lattices now, the session not
        counts, group_of_label, rep_label, pruned, mass = groups
        if locks is None:
            locks = (np.zeros((self.height, self.width), np.uint8), np.zeros((self.height, self.width), bool))
        return win.Solution(params=params, shape=(self.height, self.width), terms=terms,
                            trajectory=[traj[t] for t in range(n)], counts=counts, group_of_label=group_of_label,
                            rep_label=rep_label, locks=(np.array(locks[0], np.uint8), np.array(locks[1], bool)),
                            pruned=pruned, prune_mass=mass)

    def refine_window(self, solution: win.Solution, probs, box, locks=None, should_cancel=None) -> win.WindowResult:
        """Re-solve window `box` (x0, y0, x1, y1; see window.window_for) of probabilities (C,H,W) with the locks,
        the rest of the image held at `solution` (which must be for this image); see window.refine. Call
        window.paste(solution, result) to keep the result as the new current state."""
        probs = as_probs(probs, keep_half=True)
        check_inputs(self.image, probs)
        if solution.shape != (self.height, self.width):
            raise EngineError(f"a CRF solution for {solution.shape} cannot refine an image of {self.image.shape[:2]}")
        lock_pixels(locks, probs.shape[0], probs.shape[1:])  # validates
        with self._lock:
            return win.refine(solution, probs, box, locks=locks, should_cancel=should_cancel)

    def refine_local(self, solution: win.Solution, probs, dirty, locks=None, should_cancel=None,
                     held_probs=None) -> win.WindowResult | None:
        """refine_window in the window around the dirty box (x0, y0, x1, y1), grown while the change reaches its
        edge (window.refine_around); None when that window would be most of the image. held_probs: the
        probabilities the solution was computed from, when `probs` differ from them (window.refine)."""
        probs = as_probs(probs, keep_half=True)
        check_inputs(self.image, probs)
        if solution.shape != (self.height, self.width):
            raise EngineError(f"a CRF solution for {solution.shape} cannot refine an image of {self.image.shape[:2]}")
        lock_pixels(locks, probs.shape[0], probs.shape[1:])
        with self._lock:
            return win.refine_around(solution, probs, dirty, locks=locks, should_cancel=should_cancel,
                                     held_probs=held_probs)

    def _advance(self, hist: History, prior: Prior, n_iter: int, should_cancel, on_iteration, capture=False):
        """Q_{n_iter}, from the nearest kept iteration below it. capture: also keep each iteration's blurred
        vertex values (the messages) in self._trajectory, which local refinement holds the image at."""
        eng = hist.engine
        start = hist.start_for(n_iter)
        computed = 0
        traj = None
        dtype = self._trajectory_dtype(hist.terms, prior.n_groups, n_iter) if capture else None
        if dtype is not None and getattr(eng, "mode", "") != "chunked":
            traj = self._trajectory[1] if self._trajectory[0] == hist.key else {}
            if start is not None and any(t not in traj for t in range(start[0])):
                start = None  # the messages of the kept iterations are gone: compute from Q_0
            self._trajectory = (hist.key, traj)
        # a big image keeps only its newest Q and writes the next one over it (bounded history)
        big = prior.prior.nbytes > self.big_bytes and eng.kind == "cpu"
        if start is None:
            q0_key = (self._engine_tag, prior.key)
            t, q = 0, None if big else self._q0.get(q0_key)
            if q is None:
                q = eng.initial()
                if not big:
                    self._q0.put(q0_key, q)
            if not big:
                hist.keep(0, q)
        else:
            t, q = start
        while t < n_iter:
            check_cancel(should_cancel)
            # Q_0 is the same for every weight setting, and so is its filtering: engines may keep it under this key
            messages_key = (self._engine_tag, prior.key, hist.lattice_keys) if t == 0 else None
            if messages_key is not None:
                self._kept_keys.add(("q0", messages_key))
            kwargs = {}
            if traj is not None:
                kwargs["capture"] = lambda b, t=t: traj.__setitem__(t, kept_messages(b, dtype))
            if big:
                hist.qs.pop(t, None)  # in place: the kept Q_t becomes Q_t+1 (not handed to the pool: it lives on)
                kwargs["out"] = q
            q = eng.iterate(q, messages_key=messages_key, **kwargs)
            t += 1
            computed += 1
            hist.keep(t, q)
            if on_iteration is not None and t < n_iter:
                on_iteration(t, n_iter, results.preview(self.previews, eng, q, prior, (self.height, self.width)))
        self.last_stats = {"groups": prior.n_groups, "labels": prior.n_labels, "computed_iterations": computed,
                           "engine": eng.kind, "mode": getattr(eng, "mode", eng.kind), **_pruning(prior)}
        return q

    @staticmethod
    def _trajectory_dtype(terms: list, groups: int, n_iter: int):
        """float32, float16 or None (too big to keep): how the messages of a capturing run are kept."""
        return FastSession._trajectory_dtype_for(sum(lat.n_vertices + 1 for lat, _ in terms), groups, n_iter)

    @staticmethod
    def _trajectory_dtype_for(vertices: int, groups: int, n_iter: int):
        """_trajectory_dtype for this many vertex rows over all kernels."""
        width = simd.row_width(groups)
        nbytes = n_iter * vertices * width * 4
        if nbytes <= TRAJECTORY_FLOAT32:
            return np.float32
        if nbytes // 2 <= TRAJECTORY_BUDGET:
            return np.float16
        return None

"""One image's CRF as an annotator drives it: what to compute for each request, and computing it.

Policy (the controller only wires it to lanes and timers):
  - a new prediction or a slider change on an image above PREVIEW_PIXELS: a preview on a downscaled copy first
    (downscale.py; the window says 'preview 1/4 resolution'), then the exact whole-image run;
  - a stroke (or any dirty region, e.g. probabilities a head adaptation changed): a local window (window.py) when
    the fast engine holds a whole-image solution for these settings; then, once the user is idle, the exact run;
  - otherwise (small images, the reference backend, no solution yet): the exact run, with its iteration previews.
Exact runs on large images capture the solution local refinement starts from. Local windows are pasted into it
as they are computed and queued until the window has shown them (pending()), so what is shown and what the next
window is held at never drift apart, even when a newer request drops a result on its way.
Qt-free. preview() may run on one worker thread while exact()/local() run on another.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from engine.boxes import is_empty, mask_box, union
from engine.uncertainty import uncertainty_map

from ..base import CRFResult
from ..compact import CompactProbs
from ..params import CRFParams
from . import downscale

KIND_EXACT = "exact"
KIND_LOCAL = "local"
KIND_NETWORK = "network (no CRF)"
LOCAL_MIN_PIXELS = downscale.PREVIEW_PIXELS  # below this a whole-image run is about as quick as a window
COMPACT_PIXELS = 1_000_000  # results of larger images keep their probabilities as bytes (compact.py)
IDLE_MS = 600  # after a local result, the exact run starts once nothing happened for this long
CHANGED_MAX_SHARE = 0.5  # new probabilities (head adaptation) changing labels over more of the image: no window
PREVIEW_PRUNE_MASS = 1e-2  # a preview's CRF leaves out faint classes under this combined mass (fast/prune.py): it
#                            is an approximation already; measured on the r101-182 bench model's 3 MP image, its
#                            0.25 MP preview took 9.5 s with the default 1e-4 and 0.27 s with this, labels agreeing
#                            with the unpruned preview's at 99.997 %
PREVIEW_CACHE_BYTES = 64 << 20  # a preview's session keeps at most this of priors (one 182-class preview's: 54 MB)
#                                and no iteration history (measured: 1.5 GB more at the peak with both kept)
HALF_PROBS_PIXELS = 4_000_000  # larger images keep the network's probabilities as float16 (half the memory),
HALF_PROBS_BYTES = 1 << 30      # and so do those whose float32 (C,H,W) would pass this (3 MP x 182 classes: 2.2 GB)


def probs_dtype(height: int, width: int, classes: int = 0) -> dict:
    """Predictor.predict keywords for the dtype the app keeps an image's probabilities in: {'dtype': float16}
    from HALF_PROBS_PIXELS up (12 MP x 21 classes is 0.5 GB instead of 1 GB; the CRF is then exact for those
    rounded probabilities) or where `classes` make float32 pass HALF_PROBS_BYTES (a 182-class model from
    1.5 MP), else {} (float32, the predictor's default)."""
    pixels = height * width
    half = pixels >= HALF_PROBS_PIXELS or pixels * max(0, int(classes)) * 4 >= HALF_PROBS_BYTES
    return {"dtype": np.float16} if half else {}


@dataclass(frozen=True)
class Plan:
    """first: 'preview', 'local' or 'exact'; exact_after: an exact whole-image run follows; idle: it waits for
    the user to be idle (after a local result), else it starts right after the first step."""

    first: str
    exact_after: bool = False
    idle: bool = False


@dataclass(frozen=True, eq=False)
class Outcome:
    """A step's result. kind: KIND_EXACT, KIND_LOCAL or a preview's text ('preview 1/4 resolution');
    labels (H,W) uint8 (local: the window's (h,w)); probs/unc for exact and local (None for previews), probs
    float32 (C,H,W) or CompactProbs; box (x0, y0, x1, y1) of a local window."""

    kind: str
    params: CRFParams
    labels: np.ndarray
    probs: object = None
    unc: np.ndarray | None = None
    box: tuple | None = None
    note: str = ""


def dirty_box(region) -> tuple[int, int, int, int] | None:
    """A region as one box (x0, y0, x1, y1): a box, a list of boxes (their union) or an (H,W) bool mask. Boxes with
    no pixels are ignored; None when nothing is left."""
    if region is None:
        return None
    if isinstance(region, np.ndarray) and region.dtype == bool and region.ndim == 2:
        return mask_box(region)
    if len(region) == 4 and all(np.isscalar(v) for v in region):
        region = [region]
    return union(*(box for box in (tuple(int(v) for v in b) for b in region) if not is_empty(box)))


class InteractiveCRF:
    """The CRF of one opened image (token image_key) through `runner` (engine.crf.runner.CRFRunner)."""

    def __init__(self, image_rgb: np.ndarray, runner, image_key):
        self.image = image_rgb
        self.runner = runner
        self.key = image_key
        self.height, self.width = image_rgb.shape[:2]
        self.geometry = downscale.Downscaled.for_image(self.height, self.width)
        self._preview = None            # (session of the small copy, small probs key, small probs)
        self._preview_lock = threading.Lock()
        self.solution = None            # window.Solution of the last capturing exact run (fast engine)
        self._solution_probs = None     # keys.array_key of the probabilities it was computed from
        self._base = None               # those probabilities (a reference: a window on new ones holds the old)
        self._mixed = False             # windows re-solved new probabilities into it: those below, and no others
        self._mixed_with = None         # keys.array_key of those new probabilities
        self._mixed_boxes: list = []    # the windows that used them (window.HeldProbs)
        self._pending: list[Outcome] = []
        self._unpasted = None           # (solution, WindowResult) not yet taken into the solution
        self._pending_lock = threading.Lock()

    # ----- policy ------------------------------------------------------------------------------
    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def wants_preview(self) -> bool:
        return not self.geometry.is_identity

    @property
    def wants_windows(self) -> bool:
        """Large enough for local windows after edits (smaller images rerun whole about as quickly)."""
        return self.pixels >= LOCAL_MIN_PIXELS  # (read at call time: tests lower it)

    def _session(self):
        return self.runner.session(self.key, self.image)

    def local_possible(self, params: CRFParams, probs, probs_changed: bool = False) -> bool:
        """A window can be re-solved now: a fast session, a large image, and a solution for these settings (and
        these probabilities, unless probs_changed: new probabilities of the same shape, e.g. a head adaptation's,
        whose change the request's region covers; the window re-solves with them, the outside stays held)."""
        if not self.wants_windows or params.iterations == 0:
            return False
        sol = self.solution
        if sol is None or sol.params != params or not hasattr(self._session(), "refine_local"):
            return False
        from ..fast.keys import array_key
        key = array_key(probs)
        if self._mixed:   # windows may go on with the probabilities mixed in, not with yet others
            return key == self._mixed_with
        if probs_changed:
            return sol.shape == tuple(probs.shape[1:]) and self._base is not None
        return self._solution_probs == key

    def plan(self, params: CRFParams, probs, region=None, probs_changed: bool = False) -> Plan:
        """What to compute for a request: region = the dirty pixels of an edit (box, boxes or mask), else None;
        probs_changed: the probabilities are new, and differ from the solution's mainly inside region."""
        if params.iterations == 0:
            return Plan("exact")
        box = dirty_box(region)
        if box is not None and probs_changed \
                and (box[2] - box[0]) * (box[3] - box[1]) > CHANGED_MAX_SHARE * self.pixels:
            box = None  # new probabilities over most of the image: as a new prediction (a preview first if large)
        if box is not None and self.local_possible(params, probs, probs_changed):
            return Plan("local", exact_after=True, idle=True)
        if self.wants_preview:
            return Plan("preview", exact_after=True)
        return Plan("exact")

    # ----- steps -------------------------------------------------------------------------------
    def preview(self, probs: np.ndarray, params: CRFParams, locks=None, should_cancel=None,
                on_labels=None) -> Outcome:
        """The CRF of the downscaled copy, labels brought back to full size (locks enforced there). on_labels(i, n,
        labels_fn) after each unfinished iteration: labels_fn() gives that iteration's full-size labels (so the
        window can show the first one at once: after a weight change the first iteration is a single slice)."""
        from ..fast import FastBackend
        from ..fast.keys import array_key

        g = self.geometry
        with self._preview_lock:
            key = array_key(probs)
            if self._preview is None:
                backend = FastBackend(device="cpu", prune_mass=PREVIEW_PRUNE_MASS, keep_history=False,
                                      cache_bytes=PREVIEW_CACHE_BYTES)
                self._preview = [backend.session(g.image(self.image)), None, None]
            session = self._preview[0]
            if self._preview[1] != key:
                small = g.probs(probs)
                small.flags.writeable = False  # frozen: keyed by identity, not hashed, by the session
                self._preview[1:] = [key, small]
            relay = None
            if on_labels is not None:
                def relay(i, n, preview):
                    if callable(preview) and i < n:
                        on_labels(i, n, lambda: g.upscale_labels(preview(), locks))
            result = session.run(self._preview[2], g.params(params), should_cancel=should_cancel,
                                 locks=g.locks(locks), on_iteration=relay)
        return Outcome(g.text, params, g.upscale_labels(result.labels, locks))

    def exact(self, probs: np.ndarray, params: CRFParams, locks=None, should_cancel=None,
              on_iteration=None) -> Outcome:
        """The exact whole-image result (the selected backend). On large images the fast engine also keeps the
        solution later strokes are refined against."""
        capture = self.wants_windows
        if capture:
            self._drop_stale_solution(params, probs)
        result: CRFResult = self.runner.run(self.key, self.image, probs, params, should_cancel=should_cancel,
                                            on_iteration=on_iteration, locks=locks, capture=capture,
                                            compact=self.pixels >= COMPACT_PIXELS)
        if capture:
            session = self._session()
            solution = session.solution() if hasattr(session, "solution") else None
            from ..fast.keys import array_key
            self.solution, self._solution_probs = solution, (array_key(probs) if solution is not None else None)
            self._base = probs if solution is not None else None
            self._unmix()
        with self._pending_lock:
            self._pending.clear()  # the exact result replaces every window shown before
            self._unpasted = None
        return self._outcome(KIND_EXACT, params, result.labels, result.probs, note=result.note, unc=result.unc)

    def _drop_stale_solution(self, params: CRFParams, probs) -> None:
        """Before a capturing run: forget a solution no request can use any more, so its messages (1.4 GB at 12 MP
        x 21 classes) are not held beside the new run's: one for other settings (windows need the settings they
        are solved with) or one mixed with other probabilities than the run's (windows go on only with those).
        Any other stays: if the run is cancelled (a new stroke), the next window still starts from it."""
        from ..fast.keys import array_key
        if self.solution is not None and (self.solution.params != params or
                                          (self._mixed and self._mixed_with != array_key(probs))):
            self.forget_solution()

    def local(self, probs: np.ndarray, params: CRFParams, region, locks=None, should_cancel=None) -> Outcome | None:
        """Re-solve the window around `region`; None when it would be most of the image (run exact()). The
        window is pasted into the solution before this returns (see pending()). probs may be new ones (a head
        adaptation's, changed mainly inside region): the window is solved with them, held against what the
        solution holds (window.HeldProbs); the solution is then mixed, and later windows go on only with them."""
        from ..fast.keys import array_key
        from ..fast.window import HeldProbs

        box = dirty_box(region)
        solution = self.solution
        if box is None or solution is None:
            return None
        key = array_key(probs)
        changed = self._solution_probs != key
        if changed and (self._base is None or (self._mixed and key != self._mixed_with)):
            return None
        self._settle()  # the previous window first
        held = HeldProbs(self._base, tuple(self._mixed_boxes)) if changed else None
        result = self._session().refine_local(solution, probs, box, locks=locks, should_cancel=should_cancel,
                                              held_probs=held)
        if result is None:
            return None
        outcome = self._outcome(KIND_LOCAL, params, result.labels, result.probs, box=result.box)
        if changed:
            self._mixed, self._mixed_with = True, key
            self._mixed_boxes.append(result.box)
        with self._pending_lock:  # from here on the window is the current state: it must be shown
            self._pending.append(outcome)
            self._unpasted = (solution, result)  # taken into the solution by the next call (after it is shown)
        return outcome

    def _unmix(self) -> None:
        self._mixed, self._mixed_with, self._mixed_boxes = False, None, []

    def settle(self) -> None:
        """Take the last window into the solution now (else the next call does): the window's idle work."""
        self._settle()

    def _settle(self) -> None:
        """Paste the last window into the solution (deferred: a stroke's labels do not wait for it)."""
        from ..fast import window as win
        with self._pending_lock:
            unpasted, self._unpasted = self._unpasted, None
        if unpasted is not None:
            win.paste(*unpasted)

    def pending(self) -> list[Outcome]:
        """Local windows pasted but not yet taken by the window, oldest first (and forgets them)."""
        with self._pending_lock:
            out, self._pending = self._pending, []
        return out

    def adopt(self, solution, probs) -> None:
        """A solution computed elsewhere (prefetch) for this image and these probabilities."""
        from ..fast.keys import array_key
        self.solution, self._solution_probs = solution, array_key(probs)
        self._base = probs
        self._unmix()
        with self._pending_lock:
            self._pending.clear()
            self._unpasted = None

    def forget_solution(self) -> None:
        """New probabilities (a new prediction): the solution no longer describes the image."""
        self.solution = self._solution_probs = self._base = None
        self._unmix()
        with self._pending_lock:
            self._pending.clear()
            self._unpasted = None

    def _outcome(self, kind, params, labels, probs, box=None, note="", unc=None) -> Outcome:
        if unc is None:
            unc = uncertainty_map(probs)
        if self.pixels >= COMPACT_PIXELS and not isinstance(probs, CompactProbs) and box is None:
            probs = CompactProbs(probs)
        return Outcome(kind, params, labels, probs, unc, box, note)

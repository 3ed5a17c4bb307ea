"""What happens to the model after a stroke, shared by the app (gui/session/adaptation.py) and the simulated annotator
(bench/annotation_effort.py) so both run the same code: the open image's adaptation (ImageAdaptation: its cached
features and the head it was opened with) learns from the current locks, with the locked cells of earlier images
(ReplayMemory; a saved image replays its saved labels) when the head is carried across images, and returns the
new head and its probabilities, which the caller refines with the CRF and the locks
(engine.crf.constraints.run_constrained)."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ..crf.interactive import probs_dtype
from ..labels import VOID
from .adapt import HeadAdapter, HeadState
from .grid import GridTargets

REPLAY_BYTES = 256 << 20   # earlier images' features kept for replay (a 0.25 MP demo image takes ~0.7 MB)
REPLAY_IMAGES = 32


class ReplayMemory:
    """The features and locked-cell targets of the images corrected so far, most recent last; bounded by count
    and bytes (the oldest go first). Thread-safe."""

    def __init__(self, max_images: int = REPLAY_IMAGES, max_bytes: int = REPLAY_BYTES):
        self.max_images, self.max_bytes = max_images, max_bytes
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._epoch = 0    # counts forget-alls: work started before one must not add to what follows it

    @property
    def epoch(self) -> int:
        return self._epoch

    def remember(self, image_id: str, features, targets: GridTargets, epoch: int | None = None) -> None:
        """Keep (features, targets) for ``image_id`` (replacing its entry); with ``epoch``, only if nothing was
        forgotten since that epoch was read."""
        with self._lock:
            if epoch is not None and epoch != self._epoch:
                return
            self._items.pop(image_id, None)
            if targets.n_locked == 0:
                return
            self._items[image_id] = (features, targets)
            while self._items and (len(self._items) > self.max_images or self.nbytes > self.max_bytes):
                self._items.popitem(last=False)

    def items(self, exclude: str | None = None) -> list[tuple]:
        with self._lock:
            return [v for k, v in self._items.items() if k != exclude]

    def forget(self, image_id: str | None = None) -> None:
        """Drop one image (None: all)."""
        with self._lock:
            if image_id is None:
                self._items.clear()
                self._epoch += 1
            else:
                self._items.pop(image_id, None)

    @property
    def nbytes(self) -> int:
        return sum(f.nbytes for f, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)


class ImageAdaptation:
    """One image's cached features, its id and the head it was opened with (``anchor``).

    Which head a stroke is held to on the cells nobody painted (the KL term): the head before the stroke, when the
    stroke only added locks to the ones that head was fitted to on this image; otherwise (the first stroke, an
    erase or repaint, an undo past it) the head the image was opened with. So a region an earlier stroke flipped
    stays flipped when the next stroke teaches another class, and what an erased stroke taught is not held."""

    def __init__(self, adapter: HeadAdapter, features, image_id: str, anchor: HeadState | None = None):
        self.adapter, self.features, self.image_id = adapter, features, image_id
        self.anchor = anchor if anchor is not None else adapter.original

    def learn(self, state: HeadState, labels: np.ndarray, locked: np.ndarray, memory: ReplayMemory | None = None,
              should_cancel=None) -> tuple[HeadState, np.ndarray]:
        """After a stroke: (the head fitted to the current locks starting from ``state``, its (C,H,W)
        probabilities on this image). With ``memory`` the earlier images' locks are replayed and this image's are
        remembered. No painted pixel left (all erased): the head returns to the anchor."""
        targets = self.adapter.targets(self.features, labels, locked)
        replay = memory.items(exclude=self.image_id) if memory is not None else ()
        hold = state if targets.n_locked and state.only_adds_to(self.image_id, targets) else self.anchor
        # the head the image was opened with is held as the image showed it: carried (engine.models.folder_head)
        # an erase, a repaint or an undo starts again from the held head: what it took back leaves no trace
        # held as this image showed it: the anchor carried (gated), unless it was last fitted on this very image
        # (restored after a crash, or revisited), which shows it in full (a walk: the first stroke after a restore
        # was held to the gated head and took back 44 % of what the restored stroke had taught)
        carried = hold is self.anchor and self.anchor.fitted_on != self.image_id
        new = self.adapter.fit(self.features, targets, state, hold, self.image_id, replay, should_cancel,
                               anchor_carried=carried, start=hold)
        if memory is not None:
            memory.remember(self.image_id, self.features, targets)
        # no lock left (an undo past the first stroke): the anchor comes back, shown as the image was opened
        # with it (carried, gated), not as on the image that taught it (a walk: 20 % of an image relabelled)
        return new, self.probs(new, carried=new.fitted_on != self.image_id)

    def probs(self, state: HeadState | None, carried: bool = False) -> np.ndarray:
        """(C,H,W) probabilities of ``state``'s head (e.g. the head an undo restored): float32, or float16 for
        large images as their predictions are (engine.crf.interactive.probs_dtype). ``carried``: as the image
        shows it before anyone corrects it (the head it was opened with)."""
        kw = probs_dtype(*self.features.image_hw, self.adapter.n_classes)
        return self.adapter.probs(self.features, state, carried=carried, **kw)

    def remember_saved(self, labels: np.ndarray, memory: ReplayMemory | None, epoch: int | None = None) -> None:
        """The annotator saved this image: its saved labels, every labelled pixel and not only the painted ones,
        become what the head replays for it. A finished image is the most the session knows about the new domain,
        and its labels are the annotator's accepted result (measured on the shifted demo domain, 20 scenes carried
        across: 252k pixels painted with only the locked cells replayed, 207k with the saved labels)."""
        if memory is not None:
            labels = np.asarray(labels)
            targets = self.adapter.targets(self.features, labels, labels != VOID)
            memory.remember(self.image_id, self.features, targets, epoch=epoch)

    def remember(self, labels: np.ndarray, locked: np.ndarray, memory: ReplayMemory | None) -> None:
        """Bring this image's entry in ``memory`` up to date with its locks (after an undo or redo)."""
        if memory is not None:
            memory.remember(self.image_id, self.features, self.adapter.targets(self.features, labels, locked))

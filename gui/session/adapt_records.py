"""What the adaptation (gui.session.adaptation) keeps beside the head: what a prediction carries (Prepared), each
stroke's heads for its undo record (StrokeHeads), what each image taught (TaughtImages), and the digest that says
which locks a head is fitted to."""
from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass, replace

import numpy as np

from engine.labels import VOID
from engine.learn.adapt import HeadState
from engine.learn.correction import ImageAdaptation


@dataclass(frozen=True)
class Prepared:
    """What a prediction carries besides the probabilities: the head that made them and, when it went through
    the classifier seam, the image's features (None after a plain Predictor.predict)."""
    features: object
    head: HeadState


@dataclass(frozen=True)
class StrokeHeads:
    """A stroke's heads: ``before`` fitted to the locks with key ``key_before``, ``after`` to ``key_after`` (None:
    not known any more, fitted again when needed)."""
    before: HeadState | None
    after: HeadState | None
    key_before: bytes
    key_after: bytes


@dataclass(frozen=True)
class Refitted:
    """An undo (``undone``) or redo of ``edit`` whose head had to be fitted again (nothing exact to restore: the
    stroke's own fit was superseded by a quicker next stroke, or the head moved on): its result becomes that side
    of the stroke's record, so the next redo or undo of it restores exactly (a walk: three strokes 20 ms apart,
    undo, redo: 10 % of the labels differed from before the undo)."""
    edit: object
    undone: bool
    moved_on: bool = False   # the head had learnt elsewhere since the record: its other side predates that and goes


class StrokeRecords:
    """Each stroke's heads (StrokeHeads), keyed by its RegionEdit (weakly: a record goes with its undo step), so
    undo and redo give the head back with the labels."""

    def __init__(self):
        self._records: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def side(self, edit, undone: bool, head, key: bytes):
        """The head an undo (``undone``) or redo of ``edit`` gives back exactly, when ``head`` is the record's other
        side and ``key`` the locks that side is fitted to; else None, with whether the head had moved on since
        (another image taught it): (head or None, moved)."""
        rec = self._records.get(edit)
        if rec is None:
            return None, False
        src, dst, want = (rec.after, rec.before, rec.key_before) if undone else \
            (rec.before, rec.after, rec.key_after)
        moved = src is None or head is not src
        return (dst if not moved and dst is not None and key == want else None), moved

    def known(self, edit) -> bool:
        return edit in self._records

    def add(self, edit, before, after, key_before: bytes, key_after: bytes) -> None:
        self._records[edit] = StrokeHeads(before, after, key_before, key_after)

    def refitted(self, record: Refitted, head, key: bytes) -> None:
        """What an undo or redo had to fit again is that side of its stroke; where the head had moved on, the other
        side is older than that learning and goes (a walk's redo gave back a head without the next image's
        stroke)."""
        rec = self._records.get(record.edit)
        if rec is None:
            return
        self._records[record.edit] = \
            replace(rec, before=head, key_before=key, after=None if record.moved_on else rec.after) \
            if record.undone else \
            replace(rec, after=head, key_after=key, before=None if record.moved_on else rec.before)


def locks_key(labels: np.ndarray, locked: np.ndarray) -> bytes:
    """A digest of which pixels are locked and to what: the head is 'fitted to' one such set of locks."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.packbits(locked).tobytes())
    h.update(np.ascontiguousarray(labels[locked]).tobytes())
    return h.digest()


class TaughtImages:
    """Per image id: its strokes in effect when the head last learnt there, and the locks it learnt (locks_key),
    so a revisited or restored image whose locks the head learnt is not taught them again. Journalled with the head
    (engine.learn.head_store.JournalledHead) as {image id: (count, digest or None)}."""

    def __init__(self):
        self._counts: dict[str, int] = {}
        self._learnt: dict[str, bytes] = {}

    def get(self, image_id: str) -> tuple[int, bytes | None]:
        return self._counts.get(image_id, 0), self._learnt.get(image_id)

    def set(self, image_id: str, count: int, learnt: bytes | None) -> None:
        if not image_id:
            return
        if count:
            self._counts[image_id] = count
        else:
            self._counts.pop(image_id, None)
        if learnt:
            self._learnt[image_id] = learnt
        else:
            self._learnt.pop(image_id, None)

    def clear(self) -> None:
        self._counts.clear()
        self._learnt.clear()

    def entries(self) -> dict[str, tuple[int, bytes | None]]:
        return {i: self.get(i) for i in {*self._counts, *self._learnt}}

    def take(self, entries: dict[str, tuple[int, bytes | None]]) -> None:
        self.clear()
        for image_id, (count, learnt) in entries.items():
            self.set(image_id, count, learnt)


def locks_now(st) -> bytes:
    """locks_key of an image's locks now (none before its first edit)."""
    if st.edits is not None:
        return locks_key(*st.edits.snapshot())
    h, w = st.image.shape[:2]
    return locks_key(np.zeros((h, w), np.uint8), np.zeros((h, w), bool))


def carried_to(head: HeadState | None, image_id: str) -> bool:
    """A head is carried (gated where the network is sure) to every image but the one it was last fitted on."""
    return not (head is not None and image_id and head.fitted_on == image_id)


TEACHES = ("brush", "fill", "polygon", "superpixel")   # edits counted as strokes while their class stands


def standing_strokes(edits, stack, n_classes: int, unexplained: int = 1) -> int:
    """An image's teaching edits that still stand (engine.annotate.edits.RegionEdit.stands_in): on its undo
    ``stack`` (None: not the editor's image), not undone, not painted over or erased; locks that no such edit
    explains (restored from the journal, kept by Use model result after the stack was capped) count as
    ``unexplained`` (the strokes the image counted when it was opened, else one)."""
    labels, locked, count = edits.labels, edits.locked, 0
    explained = np.zeros(locked.shape, bool)   # locks some edit on the stack made
    for i in range(stack.count() if stack is not None else 0):
        edit = getattr(stack.command(i), "edit", None)   # an undone command's pixels do not stand
        if edit is None or edit.is_empty:
            continue
        x0, y0, x1, y1 = edit.box
        explained[y0:y1, x0:x1] |= edit.after_locked
        if edit.kind in TEACHES and edit.stands_in(labels, locked, n_classes):
            count += 1
    # (also beside new strokes: a walk's first stroke after a restore counted 1, not 2)
    if bool(np.any(locked & ~explained & (labels < n_classes))):
        count += max(1, unexplained)
    return count


def replay_job(adapter, model_lock, memory, image_id: str, read):
    """An adapt-lane job: a saved image read again (``read() -> (rgb, labels) or None``) and its saved labels put in
    the replay ``memory`` (Adaptation.replay_saved); answers ``image_id``. Nothing is kept if the memory was
    forgotten (Reset) while it ran."""
    epoch = memory.epoch

    def job(cancel, report):
        found = read()   # None: unreadable now (the file's own message comes when it is opened)
        if found is not None:
            image, labels = found
            with model_lock:
                features = adapter.predictor.extract_features(image, should_cancel=cancel)
            labels = np.where(labels < adapter.n_classes, labels, VOID).astype(np.uint8)
            ImageAdaptation(adapter, features, image_id).remember_saved(labels, memory, epoch)
        return image_id
    return job

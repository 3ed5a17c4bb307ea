"""Everything known about the image being annotated, and the rules for which label map wins.

Rules: the label map lives in an EditableLabels (labels + locked pixels). Labels whose base is the
model follow each new model/CRF result, except on locked (hand-edited) pixels, which keep the
annotator's value. Labels read from disk do not follow the model: new results are kept for
display, and taken only where a correction on them spreads (engine.annotate.spread: near the
correction, its own class), until the user asks to use the model result (which keeps the locked
pixels). Status is derived from the data, never set by hand, so it cannot go stale.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.annotate.edits import EditableLabels, RegionEdit
from engine.annotate.spread import corrections, reach_for, spread_mask
from engine.annotate.status import Status
from engine.boxes import grow_clip, mask_box, union
from engine.crf.base import labels_from_probs
from engine.errors import LabelIOError
from engine.io.provenance import Provenance, make_provenance, read_provenance
from engine.labels import VOID
from engine.uncertainty import uncertainty_map

SOURCE_NONE, SOURCE_MODEL, SOURCE_DISK, SOURCE_HAND = "none", "model", "disk", "hand"


@dataclass
class ImageState:
    """One opened image. ``token`` is unique per opening, so results computed for an earlier
    opening of the same file can be told apart and dropped."""
    index: int
    path: Path
    image: np.ndarray                      # (H, W, 3) uint8 RGB
    token: int = 0
    probs: np.ndarray | None = None        # (C, H, W) float32 softmax
    raw_labels: np.ndarray | None = None   # (H, W) uint8 argmax of probs
    unc: np.ndarray | None = None          # (H, W) float32, 1 - (p1 - p2)
    crf_probs: np.ndarray | None = None    # (C, H, W) float32 after CRF
    crf_labels: np.ndarray | None = None   # (H, W) uint8 after CRF
    crf_unc: np.ndarray | None = None      # (H, W) float32 uncertainty after CRF
    crf_params: object = None              # the CRFParams crf_* was computed with
    crf_preview: np.ndarray | None = None  # (H, W) uint8 labels of a CRF run still iterating (shown until it ends)
    crf_kind: str = ""                     # what crf_* are: 'exact' or 'local' (engine.crf.interactive)
    preview_kind: str = ""                 # what crf_preview is: 'preview 1/4 resolution', 'exact, iteration 3/10'
    note: str = ""                         # what the user should know about its prediction (Predictor.scale_note)

    edits: EditableLabels | None = None    # what Save writes, with the hand-locked pixels
    base: str = SOURCE_NONE                # where the unlocked labels come from: none, model or disk
    hand: bool = False                     # the annotator changed something since the base was set
    saved_labels: np.ndarray | None = field(default=None, repr=False)
    saved_by_machine: bool = False         # saved_labels came from a batch run (pre-labelled), not from a person
    label_file_unusable: bool = False      # its label file could not be used (another size, unreadable): the next
    #                                        save keeps that file aside instead of overwriting it
    label_stamp: tuple | None = None       # engine.folder.opening.file_stamp of the label file when it was read (or
    #                                        last saved here): a save that finds another asks before writing over it
    image_stamp: tuple | None = None       # engine.folder.opening.image_stamp of the image file its pixels are from
    void_mask: np.ndarray | None = field(default=None, repr=False)   # (H, W) bool, fully transparent: void in
    #                                                                   every model result (engine.predict)
    disk_labels: np.ndarray | None = field(default=None, repr=False)  # the file's labels this opening started
    #                                   from: what a disk-based pixel shows unless a correction spreads over it
    disk_hand: np.ndarray | None = field(default=None, repr=False)    # (H, W) bool: of those, the pixels a person
    #                                   edited (the file's provenance): no spread takes them
    spread: np.ndarray | None = field(default=None, repr=False)       # (H, W) bool: disk-based pixels that show
    #                                   the model's label because a correction spread there (engine.annotate.spread)

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[:2]

    @property
    def labels(self) -> np.ndarray | None:
        """(H, W) uint8 read-only view of the current label map, or None before any labels exist."""
        return None if self.edits is None else self.edits.labels

    @property
    def locked(self) -> np.ndarray | None:
        """(H, W) bool read-only view of the hand-locked pixels, or None before any labels exist."""
        return None if self.edits is None else self.edits.locked

    @property
    def source(self) -> str:
        return SOURCE_HAND if self.hand else self.base

    def ensure_edits(self, n_classes: int | None = None) -> EditableLabels:
        """The editable label map, created all-void if nothing has arrived yet (painting from scratch)."""
        if self.edits is None:
            h, w = self.shape
            self.edits = EditableLabels.blank(h, w, n_classes)
        if n_classes is not None:
            self.edits.n_classes = n_classes
        return self.edits

    def set_saved_labels(self, labels: np.ndarray, machine: bool = False, hand: np.ndarray | None = None) -> None:
        """Labels read from the labels folder: they win over the model from now on. machine: the file was
        written by a batch run (engine.folder.dataset.is_machine_label), so it shows as pre-labelled until saved.
        hand: (H,W) bool, the file's pixels a person edited (its provenance; all of imported labels): a
        correction's spread never takes those (engine.annotate.spread), as it never takes today's locks."""
        self.crf_preview = None  # it predates these labels
        self._check(labels)
        self.saved_labels = labels.copy()
        self.saved_by_machine = bool(machine)
        self.edits = EditableLabels(labels)
        self.disk_labels, self.spread = labels.copy(), None
        self.disk_hand = None if hand is None or hand.shape != labels.shape else hand.astype(bool, copy=True)
        self.base, self.hand = SOURCE_DISK, False

    def restore_edits(self, labels: np.ndarray, locked: np.ndarray, base: str = SOURCE_MODEL) -> None:
        """Edits recovered from the journal after a crash: unsaved hand work on top of ``base``."""
        self.crf_preview = None  # it predates these labels
        self._check(labels)
        n = self.edits.n_classes if self.edits is not None else None
        self.edits = EditableLabels(labels, locked, n)
        self.base = base if base in (SOURCE_MODEL, SOURCE_DISK) else SOURCE_MODEL
        self.hand = True

    def take_pixels(self, image: np.ndarray, token: int, void_mask: np.ndarray | None = None) -> None:
        """The same file read again with another band choice or scaling: new pixels of the same size and a new
        ``token``, so every result keyed to the old pixels is dropped. Labels, locks and saved labels stay (the
        geometry is the file's); the probabilities shown stay until the new prediction replaces them."""
        if image.shape[:2] != self.shape:
            raise ValueError(f"image shape {image.shape[:2]} does not fit the open image {self.shape}")
        self.image, self.token, self.void_mask = image, token, void_mask
        self.crf_preview, self.preview_kind = None, ""

    def set_prediction(self, probs: np.ndarray, unc: np.ndarray | None = None,
                       raw_labels: np.ndarray | None = None, keep_crf: bool = False) -> None:
        """New model probabilities (C, H, W) (and, computed in a worker, their uncertainty and argmax labels);
        drops the CRF result made from older ones, unless keep_crf: then it stays shown, marked 'local' (not exact
        for these probabilities), until a CRF run for them replaces it (a head adaptation's small change)."""
        if probs.ndim != 3 or probs.shape[1:] != self.shape:
            raise ValueError(f"probs shape {probs.shape} does not fit image {self.shape}")
        if not probs.flags.owndata:  # e.g. memory shared with a torch tensor: only an array of our own can be frozen
            probs = np.array(probs, dtype=probs.dtype)
        probs.flags.writeable = False  # frozen: the CRF keys it by identity instead of hashing 0.5 GB (crf.fast.keys)
        self.probs = probs
        self.raw_labels = self._void(labels_from_probs(probs) if raw_labels is None else raw_labels)
        self.unc = uncertainty_map(probs) if unc is None else unc
        if keep_crf and self.crf_labels is not None:
            self.crf_preview, self.preview_kind = None, ""
            self.crf_kind = "local"
            return
        self.crf_probs = self.crf_labels = self.crf_unc = self.crf_params = self.crf_preview = None
        self.crf_kind = self.preview_kind = ""
        if self.follows_model:
            self._take_model(self.raw_labels, probs.shape[0])
        else:
            self.follow_corrections()

    def set_channels(self, probs: np.ndarray, crf_probs=None) -> None:
        """The same probabilities with another channel count: classes the model does not know came (at 0) or went.
        The labels stand; the new array is frozen like set_prediction's."""
        if probs.ndim != 3 or probs.shape[1:] != self.shape:
            raise ValueError(f"probs shape {probs.shape} does not fit image {self.shape}")
        if not probs.flags.owndata:
            probs = np.array(probs, dtype=probs.dtype)
        probs.flags.writeable = False
        self.probs = probs
        if crf_probs is not None:
            self.crf_probs = crf_probs

    def set_crf(self, probs: np.ndarray, labels: np.ndarray, params, unc: np.ndarray | None = None,
                kind: str = "exact") -> None:
        """A whole-image CRF result for the current probabilities and ``params`` (probs: (C, H, W) float32 or
        engine.crf.interactive.CompactProbs)."""
        self._check(labels)
        labels = self._void(labels)
        self.crf_probs, self.crf_labels, self.crf_params = probs, labels, params
        self.crf_unc = uncertainty_map(probs) if unc is None else unc
        self.crf_preview, self.crf_kind, self.preview_kind = None, kind, ""
        if self.follows_model:
            self._take_model(labels, probs.shape[0])
        else:
            self.follow_corrections()

    def set_crf_window(self, box, labels: np.ndarray, probs, unc: np.ndarray, params) -> bool:
        """A local refinement of the window box (x0, y0, x1, y1) for ``params``, pasted into the CRF result (which
        it needs: False and ignored without one for the same params). Pixels outside the box do not change."""
        if self.crf_labels is None or self.crf_params != params:
            return False
        x0, y0, x1, y1 = box
        self.crf_labels = self.crf_labels.copy()
        self.crf_labels[y0:y1, x0:x1] = labels
        if hasattr(self.crf_probs, "paste"):
            self.crf_probs.paste(box, probs)
        else:
            self.crf_probs = np.array(self.crf_probs)
            self.crf_probs[:, y0:y1, x0:x1] = probs
        self.crf_unc = self.crf_unc.copy()
        self.crf_unc[y0:y1, x0:x1] = unc
        self.crf_preview, self.crf_kind, self.preview_kind = None, "local", ""
        if self.follows_model:
            self._take_model(self.crf_labels, self.crf_probs.shape[0])
        else:
            self.follow_corrections()
        return True

    def set_crf_preview(self, labels: np.ndarray, kind: str = "") -> bool:
        """Labels of an unfinished or approximate CRF run (kind says which), to show until the result comes. False
        (and ignored) when the shown labels do not follow the model (labels read from disk), since the CRF
        result will not replace them either."""
        self._check(labels)
        if not self.follows_model:
            return False
        self.crf_preview, self.preview_kind = self._void(labels), kind
        return True

    @property
    def shown_labels(self) -> np.ndarray | None:
        """What the label layer shows: a running CRF's preview, else the current labels."""
        return self.crf_preview if self.crf_preview is not None else self.labels

    def set_hand_labels(self, labels: np.ndarray) -> RegionEdit:
        """The annotator replaced the whole map: changed pixels are locked. Returns the (undoable) edit."""
        self._check(labels)
        edit = self.ensure_edits().replace_all(labels, lock_changed=True, kind="set labels")
        self.hand, self.crf_preview = True, None
        return edit

    def note_hand_edit(self) -> None:
        """An editing tool (or its undo/redo) changed ``edits``."""
        self.crf_preview = None  # it predates these labels
        self.hand = True

    def use_model_result(self) -> RegionEdit | None:
        """Take the latest model/CRF result everywhere except on the locked pixels (strokes, fills, polygons,
        superpixels: the annotator's word), which keep their label and lock; from now on the labels follow the
        model. None if there is no result yet."""
        result = self.crf_labels if self.crf_labels is not None else self.raw_labels
        if result is None:
            return None
        edits = self.ensure_edits()
        merged = np.where(edits.locked, edits.labels, result)
        edit = edits.replace_all(merged, lock_changed=False, keep_locks=True, kind="use model result")
        self.base, self.hand, self.crf_preview = SOURCE_MODEL, edits.has_locks, None
        return edit

    @property
    def spreads(self) -> bool:
        """Labels read from disk with corrections on them: the model's result is taken around the corrections."""
        return (self.base == SOURCE_DISK and self.disk_labels is not None and self.edits is not None
                and bool(corrections(self.edits.labels, self.edits.locked, self.disk_labels).any()))

    def follow_corrections(self) -> bool:
        """Labels read from disk: the pixels near a correction that the model now gives the correction's class
        show it; pixels a correction no longer reaches (undone, erased, the model changed) show the file's label
        again; every other pixel keeps the file's label (engine.annotate.spread). Called with each new model or
        CRF result and after each hand edit; not an undo step (it follows from the locks). True if it changed."""
        model, base, edits = self.model_labels, self.disk_labels, self.edits
        if self.base != SOURCE_DISK or base is None or edits is None or model is None or base.shape != self.shape:
            return False
        labels, locked = edits.labels, edits.locked
        seeds = corrections(labels, locked, base)
        old = self.spread
        box = union(grow_clip(mask_box(seeds), reach_for(*self.shape), self.shape),
                    mask_box(old) if old is not None else None)   # the work stays in the window it can change
        if box is None:
            return False
        x0, y0, x1, y1 = box
        sl = np.s_[y0:y1, x0:x1]
        kept = locked[sl] if self.disk_hand is None else locked[sl] | self.disk_hand[sl]   # (a person's pixels)
        new = spread_mask(labels[sl], seeds[sl], model[sl], kept, reach_for(*self.shape))
        target = labels[sl].copy()
        if old is not None:
            back = old[sl] & ~new & ~locked[sl]
            target[back] = base[sl][back]
        target[new] = model[sl][new]
        if new.any():
            self.spread = np.zeros(self.shape, dtype=bool)
            self.spread[sl] = new
        else:
            self.spread = None
        if edits.replace_box(box, target, kind="spread").is_empty:
            return False
        self.crf_preview = None
        return True

    def mark_saved(self) -> None:
        if self.labels is not None:
            self.saved_labels = self.labels.copy()
            self.saved_by_machine = self.label_file_unusable = False

    def keep_saved(self) -> bool:
        """Labels that match the saved file stop following the model, as when the image is opened again: a new
        model must not turn saved work into unsaved edits (use_model_result takes its result). True if changed."""
        if (self.saved_labels is None or self.labels is None or self.base == SOURCE_DISK
                or not np.array_equal(self.labels, self.saved_labels)):
            return False
        self.base = SOURCE_DISK
        self.disk_labels, self.spread = self.saved_labels.copy(), None
        return True

    @property
    def follows_model(self) -> bool:
        return self.base in (SOURCE_NONE, SOURCE_MODEL)

    @property
    def status(self) -> Status:
        if self.labels is None:
            return Status.NEW
        if self.saved_labels is not None:
            if np.array_equal(self.labels, self.saved_labels):
                return Status.PRELABELLED if self.saved_by_machine else Status.SAVED
            return Status.EDITED
        # Never saved: the annotator's work is what differs from the model (locks, or labels the model did not
        # give), so undoing every stroke makes the image "predicted" again rather than leaving a stale flag.
        if self.edits.has_locks:
            return Status.EDITED
        model = self.model_labels
        if model is None:
            return Status.EDITED if (self.labels != VOID).any() else Status.NEW
        return Status.PREDICTED if np.array_equal(self.labels, model) else Status.EDITED

    @property
    def model_labels(self) -> np.ndarray | None:
        """The latest model result (CRF labels, else the raw argmax) that unlocked pixels follow, or None."""
        return self.crf_labels if self.crf_labels is not None else self.raw_labels

    @property
    def erased_labels(self) -> np.ndarray | None:
        """What the eraser's pixels show: the labels under the hand edit. Read from disk, the file's (a walk's
        eraser left the model's labels of that moment, which learning then took back: 327 px of a class neither the
        file nor the model had stayed, and were saved); else the latest model result, which they follow."""
        base = self.disk_labels
        if self.base == SOURCE_DISK and base is not None and base.shape == self.shape:
            return base
        return self.model_labels

    @property
    def dirty(self) -> bool:
        """True when leaving this image without saving would lose the annotator's work."""
        return self.status == Status.EDITED

    def changed_by_crf(self) -> np.ndarray | None:
        """(H, W) bool: pixels the CRF relabelled, or None before a CRF result exists."""
        if self.raw_labels is None or self.crf_labels is None:
            return None
        return self.raw_labels != self.crf_labels

    def lock_constraints(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Copies of (labels, locked) for a CRF run with the hand edits as hard constraints; None if none.
        Locked values that are no class of the probabilities (restored from an autosave made with more classes)
        are void to the CRF: no unary for them; the label map keeps them until the user decides at Save."""
        if self.edits is None or not self.edits.has_locks:
            return None
        labels, locked = self.edits.snapshot()
        if self.probs is not None:
            labels[(labels >= self.probs.shape[0]) & (labels != VOID)] = VOID
        return labels, locked

    def provenance(self, loaded, crf_backend: str, label_path: str | Path) -> Provenance:
        """The provenance record of the labels as they are now (engine.io.provenance).

        Labels following the model record ``loaded`` (a LoadedModel or None) and the CRF parameters of
        the last CRF result. Labels based on a file on disk keep the model/CRF facts of that file's
        sidecar, and its edited pixels are added to today's.
        """
        labels, locked = self.edits.snapshot()
        name = Path(self.path).name if self.path is not None else ""
        if self.follows_model:
            params = self.crf_params if getattr(self.crf_params, "iterations", 0) else None
            return make_provenance(labels, locked, name, loaded=loaded, crf_params=params, crf_backend=crf_backend)
        try:
            previous = read_provenance(label_path)
            if previous is not None and (previous.height, previous.width) == labels.shape:
                locked = locked | previous.edited_mask()
        except LabelIOError:  # a damaged sidecar: today's record starts afresh
            previous = None
        if previous is None or (previous.height, previous.width) != labels.shape:
            return make_provenance(labels, locked, name)
        record = make_provenance(labels, locked, name)
        return replace(record, model_name=previous.model_name, model_arch=previous.model_arch,
                       checkpoint_sha256=previous.checkpoint_sha256, checkpoint_format=previous.checkpoint_format,
                       crf_backend=previous.crf_backend, crf_params=previous.crf_params)

    def _take_model(self, labels: np.ndarray, n_classes: int) -> None:
        if self.edits is None:
            self.edits = EditableLabels(labels, n_classes=n_classes)
        else:
            self.edits.merge_prediction(labels)
            self.edits.n_classes = n_classes
        if self.base == SOURCE_NONE:
            self.base = SOURCE_MODEL

    def _void(self, labels: np.ndarray) -> np.ndarray:
        """A model result with the fully transparent pixels made void (a copy when it changes anything)."""
        if self.void_mask is None or self.void_mask.shape != labels.shape:
            return labels
        labels = labels.copy()
        labels[self.void_mask] = VOID
        return labels

    def _check(self, labels: np.ndarray) -> None:
        if labels.shape != self.shape or labels.dtype != np.uint8:
            raise ValueError(f"labels {labels.dtype} {labels.shape} do not fit image {self.shape}")

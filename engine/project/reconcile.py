"""Reconciling a folder's class list with a model's: which model channel feeds which folder id.

The folder's class list is the authority for what its label values mean; a model never renames or
renumbers it. Rules (folder list vs model list, names compared with classes.match_key):

- NEW: the folder has no class list yet: it takes the model's (id = channel); nothing to ask.
- SAME: same names, same order: the identity; nothing to ask.
- COMPATIBLE: wherever both have a class at an id, the names agree; one list is longer. Name and position
  give the same map, so nothing to ask: folder classes the model lacks get no prediction, and the model's
  extra classes can be added to the folder (offered, never done silently).
- REORDERED: the same names in another order: remapping by name is offered (the default).
- DIFFERENT: other names at some ids: the user chooses remap by name (model classes the folder lacks may
  be added) or keep by position (channel i feeds id i, the folder's names stay).

labelme2voc names id 0 "_background_" whatever class it was (its script requires that name on the second line of
labels.txt), so a folder whose labels went through labelme and came back has lost class 0's name. That
placeholder stands for the model's class 0: ``recover_class0`` gives it the model's name before any comparison,
so the round trip needs no decision (the folder list then carries the real name again).

Whatever is chosen, the folder's saved labels and its class list are not rewritten: predictions are
mapped into the folder's ids (``ChannelMap.apply``), so saving writes the folder's ids and names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..labels import ClassList
from .classes import MAX_CLASSES, FolderClasses, match_key
from .errors import ClassEditError

BY_NAME, BY_POSITION = "name", "position"
LABELME_BACKGROUND = "_background_"     # labelme2voc's fixed name for id 0

# folder names that say nothing of what a class is (Reconciliation.suggested)
PLACEHOLDER = re.compile(r"^(?:(?:class|label|cls|category|id)[\s_-]*)?(?:\d+|[a-z])$", re.IGNORECASE)


class Match(str, Enum):
    NEW = "new"
    SAME = "same"
    COMPATIBLE = "compatible"
    REORDERED = "reordered"
    DIFFERENT = "different"


@dataclass(frozen=True)
class Decision:
    """The user's answer to a mismatch: map by name or by position; add the model's missing classes (by name)."""
    by: str = BY_NAME
    add_missing: bool = False


@dataclass(frozen=True)
class ChannelMap:
    """source[f] = the model channel predicting folder id f, or -1 (the model does not know that class)."""
    source: tuple[int, ...]
    n_model: int

    @property
    def identity(self) -> bool:
        return self.source == tuple(range(self.n_model))

    @property
    def mapped(self) -> int:
        return sum(1 for s in self.source if s >= 0)

    @property
    def dropped(self) -> tuple[int, ...]:
        """Model channels no folder class takes."""
        used = set(self.source)
        return tuple(c for c in range(self.n_model) if c not in used)

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """(n_model, H, W) probabilities -> (n_folder, H, W) in folder ids (float16 stays float16). Folder classes the model
        does not know get 0 (all are level when the model has one output, which says nothing:
        engine.models.folder_head.fold_logits); if model channels are dropped, each pixel is renormalised over the classes kept
        (so the CRF sees a distribution; where only dropped classes had mass, it is uniform)."""
        if probs.ndim != 3 or probs.shape[0] != self.n_model:
            raise ValueError(f"probabilities have {probs.shape[0] if probs.ndim == 3 else '?'} channels; "
                             f"this class map is for a {self.n_model}-class model")
        if self.identity:
            return probs
        _, h, w = probs.shape
        out = np.zeros((len(self.source), h, w), np.float16 if probs.dtype == np.float16 else np.float32)
        fids = [f for f, s in enumerate(self.source) if s >= 0]
        if not fids or self.n_model < 2:   # one output (a backbone-only placeholder) knows no class: level
            out[:] = 1.0 / len(self.source)   # (a walk: 'background 100%' on every pixel, uncertainty 0)
            return out
        out[fids] = probs[[self.source[f] for f in fids]]
        if self.dropped:
            total = out[fids].sum(axis=0)
            empty = total <= 1e-12
            np.divide(out, np.where(empty, 1.0, total)[None], out=out)
            if empty.any():
                out[:, empty] = 0.0
                for f in fids:
                    out[f][empty] = 1.0 / len(fids)
        return out


@dataclass(frozen=True)
class Reconciliation:
    folder: tuple[str, ...]      # names by id; () when the folder has no class list
    model: tuple[str, ...]
    match: Match

    @property
    def needs_decision(self) -> bool:
        return self.match in (Match.REORDERED, Match.DIFFERENT)

    @property
    def common(self) -> tuple[str, ...]:
        keys = {match_key(n) for n in self.model}
        return tuple(n for n in self.folder if match_key(n) in keys)

    @property
    def model_only(self) -> tuple[str, ...]:
        keys = {match_key(n) for n in self.folder}
        return tuple(n for n in self.model if match_key(n) not in keys)

    @property
    def folder_only(self) -> tuple[str, ...]:
        keys = {match_key(n) for n in self.model}
        return tuple(n for n in self.folder if match_key(n) not in keys)

    def suggested(self) -> Decision:
        """By position only for a folder whose names are all placeholders ('class 0', 'class 1', ... or 'a', 'b'),
        which say nothing of what the classes are; else by name. Names of their own that the model lacks
        ('crop', 'weed', 'soil') are classes strokes teach: by position would feed them the model's belt, paper
        and bottle (a walk: 83 % of a field photo called weed before any stroke, and worse learning after)."""
        if self.folder and not self.common and all(PLACEHOLDER.match(n.strip()) for n in self.folder):
            return Decision(BY_POSITION)
        return Decision(BY_NAME)

    def channel_map(self, by: str = BY_NAME) -> ChannelMap:
        if not self.folder:
            return ChannelMap(tuple(range(len(self.model))), len(self.model))
        if by == BY_POSITION:
            source = tuple(f if f < len(self.model) else -1 for f in range(len(self.folder)))
        else:
            index = {match_key(n): c for c, n in enumerate(self.model)}
            source = tuple(index.get(match_key(n), -1) for n in self.folder)
        return ChannelMap(source, len(self.model))

    def summary(self) -> str:
        return describe_difference(self.folder, self.model)


def recover_class0(folder: FolderClasses | None, model: ClassList) -> FolderClasses | None:
    """The folder list with class 0 named as the model's class 0 when the folder calls it labelme2voc's
    "_background_" placeholder (and no other folder class has the model's name); else the folder list as is."""
    if folder is None or not model.names or folder.by_id(0).name.strip() != LABELME_BACKGROUND:
        return folder
    name = model.names[0].strip()
    other = folder.id_of(name)
    if other not in (None, 0) or match_key(name) == match_key(LABELME_BACKGROUND):
        return folder
    try:
        return folder.rename(0, name)
    except ClassEditError:        # a model name the folder cannot hold (reserved, control characters)
        return folder


def reconcile(folder: FolderClasses | None, model: ClassList) -> Reconciliation:
    """Compare the folder's classes (None: it has none yet) with the model's (see the module rules)."""
    mnames = tuple(model.names)
    if folder is None:
        return Reconciliation((), mnames, Match.NEW)
    fnames = recover_class0(folder, model).names
    fk, mk = [match_key(n) for n in fnames], [match_key(n) for n in mnames]
    if fk == mk:
        match = Match.SAME
    elif all(a == b for a, b in zip(fk, mk)):
        match = Match.COMPATIBLE
    elif sorted(fk) == sorted(mk):
        match = Match.REORDERED
    else:
        match = Match.DIFFERENT
    return Reconciliation(fnames, mnames, match)


def add_model_classes(folder: FolderClasses, model: ClassList, names=None) -> FolderClasses:
    """The folder list with the model's classes it lacks (or just ``names`` of them) appended as new ids, in the
    model's order and colours (a colour another class already has is replaced by a free one)."""
    have = {match_key(n) for n in folder.names}
    taken = {c.color for c in folder.classes}
    wanted = None if names is None else {match_key(n) for n in names}
    for name, colour in zip(model.names, model.palette):
        key = match_key(name)
        if key in have or (wanted is not None and key not in wanted) or len(folder) >= MAX_CLASSES:
            continue
        colour = tuple(int(v) for v in colour)
        folder = folder.add(name, None if colour in taken else colour)
        have.add(key)
        taken.add(folder.by_id(len(folder) - 1).color)
    return folder


def decide(folder: FolderClasses | None, model: ClassList, decision: Decision) -> tuple[FolderClasses, ChannelMap]:
    """The folder list to use (the model's when the folder has none; class 0 named again when labelme2voc left
    "_background_" (recover_class0); with the model's missing classes added when asked) and the channel map for
    ``decision``."""
    if folder is None:
        folder = FolderClasses.from_class_list(model)
    else:
        folder = recover_class0(folder, model)
    if decision.add_missing and decision.by == BY_NAME:
        folder = add_model_classes(folder, model)
    return folder, reconcile(folder, model).channel_map(decision.by)


def _names(names, limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def describe_difference(folder, model) -> str:
    """One or two sentences on how two class lists differ, for a dialog or an error message."""
    folder, model = tuple(folder), tuple(model)
    rec = Reconciliation(folder, model, Match.DIFFERENT)
    head = f"the folder has {len(folder)} classes ({_names(folder, 6)}), the model {len(model)} ({_names(model, 6)})"
    fk, mk = [match_key(n) for n in folder], [match_key(n) for n in model]
    if fk == mk:
        return f"{head}: the same classes, spelled differently"
    if sorted(fk) == sorted(mk):
        moved = [f"{n!r} is id {i} in the folder, {mk.index(match_key(n))} in the model"
                 for i, n in enumerate(folder) if mk.index(match_key(n)) != i]
        return f"{head}: the same classes in another order ({'; '.join(moved[:3])})"
    parts = []
    if rec.folder_only:
        parts.append(f"only the folder has {_names(rec.folder_only)}")
    if rec.model_only:
        parts.append(f"only the model has {_names(rec.model_only)}")
    clash = [i for i, (a, b) in enumerate(zip(fk, mk)) if a != b]
    if clash:
        i = clash[0]
        parts.append(f"id {i} is {folder[i]!r} in the folder but {model[i]!r} in the model")
    return f"{head}: {'; '.join(parts)}"


class MappedPredictor:
    """A Predictor whose probabilities come out in the folder's ids (ChannelMap.apply in the worker thread)."""

    def __init__(self, predictor, channel_map: ChannelMap):
        self.inner, self.channel_map = predictor, channel_map

    def predict(self, image, *args, **kwargs):
        return self.channel_map.apply(self.inner.predict(image, *args, **kwargs))

    def probs_from_features(self, *args, **kwargs):
        """Probabilities from cached features (head adaptation), in folder ids like predict's."""
        return self.channel_map.apply(self.inner.probs_from_features(*args, **kwargs))

    def __getattr__(self, name):
        return getattr(self.inner, name)


def fit_channels(probs: np.ndarray, n: int) -> np.ndarray:
    """(C, H, W) probabilities with exactly n channels: new classes get 0, removed ones are dropped and the rest
    renormalised. For the moment between a class edit and the next prediction."""
    c = probs.shape[0]
    if c == n:
        return probs
    if hasattr(probs, "with_channels"):   # a compact CRF result: plane by plane, never a float32 (C, H, W) copy
        return probs.with_channels(n)
    dtype = probs.dtype if probs.dtype == np.float16 else np.float32   # (float16 stays float16: no float32 copy
    if c < n:                                                          # of a wide model's 12 MP probabilities)
        out = np.zeros((n,) + probs.shape[1:], dtype)
        out[:c] = probs
        return out
    total = np.zeros(probs.shape[1:], np.float32)
    for k in range(n):
        total += probs[k]
    total = np.where(total > 1e-12, total, np.float32(1.0))
    out = np.empty((n,) + probs.shape[1:], dtype)
    for k in range(n):   # a class at a time, divided in float32 and rounded once
        out[k] = np.asarray(probs[k], np.float32) / total
    return out

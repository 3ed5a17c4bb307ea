"""What the strokes taught the head, kept beyond the session: the folder's head file, the head journalled with each
autosave (so a crash restores it with the edits it was shown with), the adapted checkpoint, and which classes the
model knows against those learnt here (engine.learn.head_store, engine.learn.export).

A service of the session (gui.session.controller): it is handed the loader, the adaptation, the classes, the
folder guard and a way to read the open dataset, and answers with ``activity`` and ``error`` signals.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.annotate.status import Status
from engine.checkpoints import untrained_classes
from engine.checkpoints.backbone import is_backbone_only
from engine.errors import EngineError
from engine.io.images import read_image
from engine.io.labels import read_label_png
from engine.labels import match_key
from engine.learn.correction import REPLAY_IMAGES
from engine.learn.head_store import HeadFileError, HeadStore, JournalledHead, drop_journalled
from engine.models.folder_head import attached

BACKBONE_ONLY_HINT = ("This model is a backbone-only initialisation: it has no classes of its own yet. {first}"
                      "paint a stroke of each: the model learns them from your strokes (Edit > Adapt the model to "
                      "corrections).")
ADD_CLASSES_FIRST = "Add your classes in the Classes panel, then "


class LearntHead(QObject):
    activity = Signal(str)
    error = Signal(str)
    set_aside = Signal(str)   # the folder's head file was damaged or foreign and was moved aside: say so, and stay
    not_kept = Signal(str)    # Reset adaptation could not write the folder's head file (a full disk): a box says so

    def __init__(self, loader, adapt, classes, guard, dataset_fn, parent: QObject | None = None):
        super().__init__(parent)
        self.loader, self.adapt, self.classes, self.guard = loader, adapt, classes, guard
        self._dataset = dataset_fn
        self.from_journal = False   # the folder's unsaved edits were restored: their journalled head comes first
        self._journal_failing = ""  # the last journal error shown (a failing disk is reported once)
        self._staged: dict = {}     # head file -> (digest of the bytes this session staged, what each image taught)

    def store(self) -> HeadStore | None:
        """The open folder's head file for the loaded model (labels/.model/<sha16>.npz), or None."""
        dataset, loaded = self._dataset(), self.loader.loaded
        if dataset is None or loaded is None:
            return None
        return HeadStore(dataset.labels_dir, loaded.sha256)

    def journalled(self) -> JournalledHead | None:
        """The head as the open folder's last autosave left it, for the loaded model, or None."""
        dataset, loaded = self._dataset(), self.loader.loaded
        if dataset is None or loaded is None:
            return None
        return JournalledHead(dataset.labels_dir, loaded.sha256)

    def restore(self) -> None:
        """A folder or model was opened: take up what the head learnt there (a damaged file is set aside, with a
        message): after a crash whose edits were restored, the head journalled with them; else the folder's head
        file."""
        adapter, journal = self.adapt.adapter, self.journalled()
        if adapter is None:
            return
        if self.from_journal and journal is not None:
            self.from_journal = False
            try:
                found = journal.load(adapter.n_classes, self._names(), adapter.feature_channels)
            except HeadFileError as exc:   # the folder's head file is the best left
                self._set_aside(exc)
                found = None
            if found is not None:
                self._take(*found)
                self.activity.emit(_restored("Restored what the model learnt before it stopped", self.adapt.head))
                return
        store = self.store()
        try:
            state = store.load(adapter.n_classes, self._names(), adapter.feature_channels) \
                if store is not None else None
        except HeadFileError as exc:
            self._relearn(exc)
            return
        if state is not None:
            self._take(state, self._taught_with(store))
            self.activity.emit(_restored("Restored what the model learnt in this folder", self.adapt.head))
        elif store is not None and any(p != store.path for p in store.path.parent.glob("*.npz")):
            self._learnt_on_another_model()

    def _learnt_on_another_model(self) -> None:
        """The folder keeps heads learnt on other models, none on this one (a walk switched models: every class
        learnt there showed `new`, and nothing said why): say so, and replay the saved images, so the next stroke
        learns with their labels on this model too (the other models' files stay as they are)."""
        saved = self._saved_images()
        self.adapt.replay_saved(saved)
        then = f"; your next strokes learn with the folder's {len(saved)} hand-saved image" \
               f"{'s' * (len(saved) != 1)}" if saved else ""
        self.activity.emit("What was learnt in this folder was learnt on another model (kept for it): this one "
                           f"starts from its own head{then}")

    def _take(self, state, taught=None) -> None:
        """The head kept beyond the session, and the saved images it learnt from, to replay again."""
        self.adapt.take_head(state, taught)
        self.adapt.replay_saved(self._saved_images())

    def _saved_images(self) -> list:
        """(image id, read()) of the folder's hand-saved images for the head to replay, the most recently saved
        REPLAY_IMAGES, oldest first (the replay memory drops the oldest when full)."""
        dataset = self._dataset()
        if dataset is None:
            return []
        saved = [e for e in dataset.entries if e.status == Status.SAVED and e.label_path.is_file()]
        saved = sorted(saved, key=lambda e: e.label_path.stat().st_mtime)[-REPLAY_IMAGES:]
        scaling = dataset.image_settings
        return [(e.path.name, functools.partial(_read_saved, e.path, e.label_path, scaling)) for e in saved]

    def _relearn(self, exc: HeadFileError) -> None:
        """The folder's head file was set aside (damaged, or made for another model): start from the network's own
        head and replay the folder's hand-saved images, so the next stroke teaches again what their labels say
        (a walk: after a damaged file, three classes learnt here predicted nothing on the next images, even after
        a new stroke, and nothing said why)."""
        saved = self._saved_images()
        self.adapt.take_head(None)
        self.adapt.replay_saved(saved)
        if saved:
            n = len(saved)
            images = f"{n} hand-saved image is" if n == 1 else f"{n} hand-saved images are"
            exc = HeadFileError(exc.path, exc.reason, exc.moved_to,
                                then=f"The model starts from its own head; the folder's {images} read again in the "
                                     "background, so your next strokes learn with their labels. Your labels are "
                                     "untouched.")
        self._set_aside(exc)

    def _set_aside(self, exc: HeadFileError) -> None:
        self.error.emit(str(exc))
        self.set_aside.emit(str(exc))

    def _to_keep(self):
        """(what the folder keeps of the head, its head file), or None where nothing is written (a read-only
        window, no model or folder)."""
        kept, store = self.adapt.kept(), self.store()
        return None if self.guard.read_only or kept is None or store is None else (kept, store)

    def staging(self):
        """For a save of the labels: a function staging the head file in its transaction (Dataset.save's
        ``also``), so labels and head are committed together; None when there is nothing to keep."""
        found, names = self._to_keep(), self._names()
        if found is None:
            return None
        (head, source, taught), store = found

        def stage(txn):
            data = store.stage(txn, head, names, source)
            self._staged[store.path] = (None if data is None else hashlib.blake2b(data).digest(), taught)
        return stage

    def _taught_with(self, store: HeadStore) -> dict | None:
        """What each image taught the head in ``store``'s file, when this session wrote that file as it is now (a
        walk switched models and back with a taught image open: its locks, learnt already, were taught again, one
        stroke more each time); None otherwise."""
        staged = self._staged.get(store.path)
        if staged is None or staged[0] is None:
            return None
        try:
            return staged[1] if hashlib.blake2b(store.path.read_bytes()).digest() == staged[0] else None
        except OSError:
            return None

    def save(self) -> None:
        """Keep the head in the folder's head file now (Reset adaptation; not in a read-only window)."""
        found = self._to_keep()
        if found is None:
            return
        (head, source, _), store = found
        try:
            store.save(head, self._names(), source)
        except EngineError as exc:   # a box, not only the status bar: a walk closed the window and lost it unasked
            message = f"What the model learnt could not be written to the folder's head file: {exc}"
            self.error.emit(message)
            self.not_kept.emit(message)

    def classes_edited(self) -> None:
        """The folder's class list was edited (renamed, added, deleted): its head file follows the class ids now
        (HeadStore.relabel), not at the next save; not in a read-only window."""
        found = self._to_keep()
        if found is None:
            return
        (_, source, _), store = found
        try:
            store.relabel(self._names(), source)
        except HeadFileError as exc:
            self._set_aside(exc)
        except EngineError as exc:
            self.error.emit(f"The class list was saved, but the learnt head's file still names the old classes: {exc}")

    def journal(self) -> None:
        """An autosave was written: journal the head beside it (a failing disk is reported once)."""
        kept, journal = self.adapt.kept(), self.journalled()
        if self.guard.read_only or self.from_journal or kept is None or journal is None:
            return   # (from_journal: a restore still to come must not be overwritten first)
        try:
            journal.save(kept[0], self._names(), kept[1], kept[2])
        except EngineError as exc:
            message = f"Autosave of what the model learnt failed (your edits were autosaved): {exc}"
            if message != self._journal_failing:
                self._journal_failing = message
                self.error.emit(message)
            return
        self._journal_failing = ""

    def _names(self) -> tuple:
        cl = self.classes.class_list
        return cl.names if cl is not None else ()

    def drop_journal(self) -> None:
        """No unsaved edits are left in the journal: the folder's head file says what the head learnt."""
        dataset = self._dataset()
        if dataset is None or self.guard.read_only or self.from_journal:
            return
        try:
            drop_journalled(dataset.labels_dir)
        except EngineError as exc:
            self.error.emit(str(exc))

    def reset(self) -> None:
        """Model > Reset adaptation: back to the network's own head, in the folder too (a walk: Reset, then close
        and reopen, and the folder's head file brought all of it back)."""
        self.adapt.reset()
        self.save()

    def hint_if_untaught_backbone(self) -> None:
        """A backbone-only checkpoint with nothing learnt yet: say what to do."""
        loaded, head = self.loader.loaded, self.adapt.head
        if loaded is not None and is_backbone_only(loaded) and (head is None or head.is_original):
            names = self._names()   # a folder that lists its classes already needs no "add your classes"
            model = {match_key(c) for c in loaded.spec.class_names}
            own = [n for n in names if match_key(n) not in model]
            first = "For this folder's classes, " if own else ADD_CLASSES_FIRST
            self.activity.emit(BACKBONE_ONLY_HINT.format(first=first))

    def export(self, path, crf=None) -> Path:
        """Model > Export adapted model…: the base network plus what the strokes taught, with the folder's classes
        and the name of the CRF preset ``crf`` (the values shown) matches. Raises EngineError with what to do when
        there is nothing to export."""
        from engine.learn.export import export_adapted
        loaded, adapter, cl = self.loader.loaded, self.adapt.adapter, self.classes.class_list
        if loaded is None or adapter is None or cl is None:
            raise EngineError("Open a folder and load a model first.")
        dataset = self._dataset()
        return export_adapted(path, loaded, adapter, self.adapt.head, cl,
                              folder=dataset.folder if dataset is not None else None, crf=crf)

    def origins(self) -> list[tuple[str, str]]:
        """Per folder class id: (short text, tooltip) saying whether the model knows it or strokes taught it: here,
        or before an exported adapted model was written (its provenance). A backbone-only checkpoint's placeholder
        class was never trained."""
        cl, cmap, loaded = self.classes.class_list, self.classes.channel_map, self.loader.loaded
        if cl is None:
            return []
        backbone = loaded is not None and is_backbone_only(loaded)
        exported = attached(loaded.model) if loaded is not None else None
        untrained = set(untrained_classes(loaded)) if loaded is not None and not backbone else set()
        out = []
        for i in range(len(cl)):
            channel = i if cmap is None else (cmap.source[i] if i < len(cmap.source) else -1)
            known = channel >= 0 and not backbone
            strokes, images = self.adapt.taught(i)
            here = _strokes(strokes, images)
            before, base_knew = (0, 0), known
            if known and exported is not None and channel < len(exported.source):
                base_knew = exported.source[channel] >= 0
                before = exported.taught.get(loaded.spec.class_names[channel], (0, 0))
            if known and untrained and loaded.spec.class_names[channel] in untrained:   # named, never trained
                out.append((f"learnt ({strokes})", f"New to the model (its training saw none of it): learnt here "
                                                   f"from {here}") if strokes else
                           ("new", "New to the model: its file names this class, but its training saw no pixel "
                                   "of it. Paint it and the model learns it from your strokes"))
            elif known and base_knew:
                learnt = [f"before the export ({_strokes(*before)})"] * bool(before[0]) + \
                    [f"here ({here})"] * bool(strokes)
                refined = f"; strokes refined it {' and '.join(learnt)}" if learnt else ""
                fed_by = _other_name(loaded, channel, cl.names[i])
                if fed_by is not None:   # kept by position: the model's class of another name feeds it
                    out.append((f"model: {fed_by}" + (" + learnt" if learnt else ""),
                                f"Fed by the model's class '{fed_by}' (the folder's ids kept by position): the "
                                f"model was trained on {fed_by}, not on a class of this name{refined}"))
                else:
                    out.append(("model" + (" + learnt" if learnt else ""),
                                "The model was trained on this class" + refined))
            elif known and (before[0] or strokes):
                where = f"before the export ({_strokes(*before)})" if before[0] else "before the export"
                out.append((f"learnt ({before[0] + strokes})",
                            f"New to the base model: learnt from strokes {where}" +
                            (f" and here ({here})" if strokes else "")))
            elif strokes:
                out.append((f"learnt ({strokes})", f"New to the model: learnt here from {here}"))
            else:
                out.append(("new", "New to the model: paint it and the model learns it from your strokes"))
        return out


def _other_name(loaded, channel: int, name: str) -> str | None:
    """The model's name for ``channel`` where it is not the folder's ``name`` (a by-position map), else None."""
    names = loaded.spec.class_names if loaded is not None else ()
    if not 0 <= channel < len(names) or match_key(names[channel]) == match_key(name):
        return None
    return names[channel]


def _strokes(strokes: int, images: int) -> str:
    return f"{strokes} stroke{'s' * (strokes != 1)} on {images} image{'s' * (images != 1)}"


def _restored(what: str, head) -> str:
    return f"{what}: {_strokes(head.strokes, len(head.images))}"


def _read_saved(path, label_path, scaling):
    """(rgb, labels) of a saved image, or None when either cannot be read now."""
    try:
        return read_image(path, scaling=scaling), read_label_png(label_path)
    except EngineError:
        return None

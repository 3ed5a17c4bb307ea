"""The folder's class list and settings in the annotator session.

The folder's classes (engine.project) decide what label values mean; the model predicts in its own order
and ``channel_map`` carries its channels to the folder's ids (in the worker thread, MappedPredictor), so
everything the window holds - probabilities, CRF, edits, saved PNGs - is in folder ids. A mismatch asks
the user once (``ask_classes``); the answer is kept in labels/project.json with the model's sha256.
CRF values belong to the folder: opening it takes those its project.json records (note_crf / keep_crf keep the
ones moved there). A recorded model other than the one loaded is offered with ``ask_settings``.

``Classes`` owns the class list, the model's classes, the channel map and the predictor that applies it. The
session composes it and hands it what it reads (the open folder and model, the open image, the CRF requests, the
model lane, the hand edits); it answers with signals: the session loads a model, predicts again, or tells the
views.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from engine.checkpoints.backbone import is_backbone_only
from engine.crf import backend_names
from engine.errors import EngineError
from engine.labels import VOID
from engine.predict import Prediction
from engine.project import (BY_NAME, ChannelMap, CRFSettings, Decision, FolderClasses, MappedPredictor, ModelSettings,
                            decide, match_key, reconcile)
from engine.project.folder import kept_aside_words
from engine.project.reconcile import fit_channels
from engine.project.schema import stored_model_path
from engine.project.values import describe_unknown, unknown_values, void_unknown

VOID_THEM, KEEP_THEM, ADD_CLASSES, CANCEL = "void", "keep", "add", "cancel"


class Classes(QObject):
    """The folder's classes against the model's (see module docstring)."""
    model_changed = Signal()           # the class list (or what the model's channels mean) changed
    error = Signal(str)
    activity = Signal(str)
    project_problems = Signal(str)     # the folder's class list or settings file cannot be used (a dialog shows it)
    project_settings_applied = Signal(object, str)   # the folder's CRF values and backend were taken
    load_requested = Signal(object)    # Path: the folder's recorded model is to be loaded
    channels_changed = Signal()        # the channel map changed: predictions made before are stale
    edited = Signal()                  # the class list was edited and written (the head file follows it)
    predict_again = Signal()           # a model channel moved: the open image's probabilities are stale

    def __init__(self, folder: Callable, model: Callable, image, crf, model_lane, edits,
                 parent: QObject | None = None, read_only: Callable = lambda: False):
        """``folder()``: the open Dataset or None; ``model()``: the loaded checkpoint or None; ``read_only()``:
        another window holds the folder (nothing is written, and the class list is not edited here)."""
        super().__init__(parent)
        self.read_only = read_only
        self._folder, self._model, self.image, self.crf, self.model_lane, self.edits = \
            folder, model, image, crf, model_lane, edits
        self.class_list = None           # the folder's classes (folder ids), what every label value means
        self.predictor = None            # the model's Predictor mapped to folder ids (None: no model)
        self.model_classes = None        # ClassList naming the model's channels (Model > Class list may rename)
        self.model_predictor = None      # the Predictor as loaded, in the model's channel order
        self.channel_map: ChannelMap | None = None
        self.model_request: Path | None = None   # the model loaded or being loaded
        self._awaiting_model = False     # a folder opened while its model loads: reconcile when it is ready
        self.crf_from_folder = False     # the CRF values in use are the folder's (its project.json, or moved here)
        self._crf_moved = False          # the user moved them in this folder: keep_crf writes them when leaving
        self._kept_mine: Path | None = None   # the model kept over the one the open folder records (Keep mine)
        self.ask_classes = lambda rec: rec.suggested()   # the window shows the mismatch dialog
        self.ask_settings = lambda lines: True           # headless: a teammate gets the folder's settings
        self.ask_unknown = lambda text, values: CANCEL   # headless: never save unknown values unasked
        model_lane.failed.connect(self._on_model_failed)

    @property
    def project(self):
        """The open folder's engine.project.FolderProject, or None."""
        dataset = self._folder()
        return None if dataset is None else dataset.project

    def class_view(self) -> tuple[tuple[int, ...] | None, tuple[bool, ...] | None]:
        """(display order of ids, hidden flags by id) for the class panel; None = id order, all shown."""
        classes = self.project.classes if self.project is not None else None
        if classes is None or self.class_list is None or len(classes) != len(self.class_list):
            return None, None
        return classes.order, classes.hidden

    # ----- folder and model -------------------------------------------------------------------------
    def bind_folder(self) -> None:
        """A folder was opened: report unreadable project files, offer its settings, reconcile its classes."""
        project = self.project
        for problem in project.problems:
            self.error.emit(problem)
        if project.problems:   # the status bar line is gone at the next message: this must be seen
            self.project_problems.emit("\n\n".join(project.problems))
        switching = self._offer_folder_settings(project)
        if switching or self.model_lane.busy:   # this folder's model is on its way: reconcile when it lands
            self._awaiting_model = True
            self.predictor, self.channel_map = None, None
            self.class_list = project.class_list()
            self.model_changed.emit()
            return
        self.reconcile()
        self.model_changed.emit()

    def bind_model(self, predictor, new_model: bool) -> None:
        """A model (or the same model on another device) is ready."""
        self.model_predictor = predictor
        if new_model or self._awaiting_model or self.channel_map is None:
            self.reconcile()
        else:
            self._set_map(self.channel_map)

    def _on_model_failed(self, _key, _message) -> None:
        if self._awaiting_model and self.model_predictor is not None:   # keep working with the model we had
            self.reconcile()
            self.model_changed.emit()

    def reconcile(self) -> None:
        """Folder classes vs model classes -> class_list (folder ids) and channel_map; may ask the user."""
        self._awaiting_model = False
        project, model = self.project, self.model_classes
        if model is None:
            self.class_list = project.class_list() if project is not None else None
            self.channel_map, self.predictor = None, None
            return
        if project is None:
            self.class_list = model
            self._set_map(ChannelMap(tuple(range(len(model))), len(model)))
            return
        folder = project.classes if project.has_class_list else None
        rec = reconcile(folder, model)
        cmap = self._remembered_map(folder)
        if cmap is None:
            blank = is_backbone_only(self._model())   # its one placeholder output knows no class: nothing to ask
            if blank and folder is not None:
                decision = Decision(BY_NAME)
            else:
                decision = (self.ask_classes(rec) or rec.suggested()) if rec.needs_decision else rec.suggested()
            classes, cmap = decide(folder, model, decision)
            project.set_classes(classes)
            if folder is not None and classes != folder:   # the user chose to add the model's classes
                self._write_project()
            elif rec.model_only and folder is not None and not blank:
                self.activity.emit(f"The model also knows {', '.join(rec.model_only[:5])}, which this folder "
                                   "lacks: 'From model' in the Classes panel adds them")
        self.class_list = project.class_list()
        self._set_map(cmap)
        self._note_model()
        if self.image.state is not None:   # opened before the class list was known
            self.report_unknown(self.image.state)

    def _remembered_map(self, folder: FolderClasses | None) -> ChannelMap | None:
        """The map the user chose earlier for this very model (same sha256), if it still fits."""
        saved = self.project.project.model
        loaded, n = self._model(), len(self.model_classes)
        if (folder is None or saved is None or saved.channels is None or loaded is None
                or not saved.sha256 or saved.sha256 != loaded.sha256 or len(saved.channels) != len(folder)
                or any(c >= n for c in saved.channels)):
            return None
        model_of = {match_key(name): k for k, name in enumerate(self.model_classes.names)}
        for f, channel in enumerate(saved.channels):   # a class whose own name the model has, sent elsewhere
            name = folder.by_id(f).name
            own = model_of.get(match_key(name))
            if own is not None and channel != own:    # (a walk edited the file: belt and metal can swapped, silently)
                other = self.model_classes.names[channel] if channel >= 0 else "nothing"
                self.error.emit(f"{self.project.project_path}: it matched class {f} {name!r} to the model's "
                                f"{other!r}, though the model has {name!r}; the classes are matched by name instead")
                return None
        return ChannelMap(tuple(saved.channels), n)

    def _set_map(self, cmap: ChannelMap) -> None:
        self.channel_map = cmap
        p = self.model_predictor
        self.predictor = None if p is None else (p if cmap.identity else MappedPredictor(p, cmap))
        if cmap.mapped == 0:   # not an error: strokes teach such classes (a walk read it as one)
            # (true also when the folder's head file then restores what strokes taught: no "paint" order)
            self.activity.emit("The network knows none of this folder's classes by name: they are learnt from "
                               "strokes of each class on its features (the Classes panel counts the strokes)")

    def knows_none(self) -> bool:
        """The model knows none of the folder's classes (a backbone-only checkpoint's placeholder, or no name in
        common): only strokes can teach them."""
        loaded, cmap = self._model(), self.channel_map
        return loaded is not None and cmap is not None and (cmap.mapped == 0 or is_backbone_only(loaded))

    def _note_model(self) -> None:
        """Record the model and its channel map in the folder's settings (written with the next save). Another model
        than the one the folder records is written at once: a walk loaded its trained model, the app died before a
        save, and the folder reopened with the old one. Not the model the user kept when the folder offered its own
        (Keep mine): the question says that is recorded with the next save, and a walk's folder lost its recorded
        model (a teammate's) to the answer alone."""
        loaded, project = self._model(), self.project
        if loaded is None or project is None or self.channel_map is None or project.classes is None:
            return
        recorded = project.project.model
        project.set_model(ModelSettings(stored_model_path(loaded.path, project.labels_dir),
                                        str(loaded.spec.name or Path(loaded.path).stem)[:200], loaded.sha256,
                                        self.channel_map.source))
        kept_mine = self._kept_mine is not None and Path(loaded.path) == self._kept_mine
        if recorded is not None and recorded.sha256 != loaded.sha256 and not self.read_only() and not kept_mine:
            try:
                project.write()
            except EngineError as exc:
                self.error.emit(f"The folder's model is recorded with the next save: {exc}")

    def _offer_folder_settings(self, project) -> bool:
        """The folder's CRF values are taken as they are (they belong to the folder: values moved in one folder
        never show in another); its recorded model is offered where it differs from the one loaded. True if
        that model is now loading (reconcile waits for it)."""
        saved, model_path = project.project, None
        self.crf_from_folder, self._crf_moved = False, False
        self._kept_mine = None
        crf = saved.crf
        if crf is not None:
            backend = crf.backend if crf.backend in backend_names() else ""
            self.crf.take_params(crf.params)
            self.crf_from_folder = True
            if backend and backend != self.crf.backend_name:
                self.crf.set_backend(backend)
            self.project_settings_applied.emit(self.crf.params, self.crf.backend_name)
        if (crf is None or crf.backend not in backend_names()) and self.crf.backend_name != self.crf.preferred:
            self.crf.set_backend(self.crf.preferred)   # (a walk: the last folder's engine ran in one recording none)
        loaded = self._model()
        current = self.model_request or (loaded.path if loaded is not None else None)
        if saved.model is None:
            return False
        path = saved.model.resolve(project.labels_dir)
        same = ((loaded is not None and loaded.sha256 == saved.model.sha256
                 and (current is None or Path(current) == Path(loaded.path)))
                or (current is not None and Path(current).resolve() == path.resolve()))
        if same:
            return False
        if not path.is_file():
            self.error.emit(f"{project.project_path}: this folder's model {saved.model.name or path.name} is not "
                            f"at {path}; using {Path(current).name if current else 'no model'}")
            return False
        model_path = path
        line = (f"Model: {saved.model.name or path.name} ({path}) instead of "
                f"{Path(current).name if current else 'none'}")
        if current is not None and not self.ask_settings([line]):
            self._kept_mine = Path(current)   # (recorded with the next save, as the question says: _note_model)
            return False
        self.load_requested.emit(model_path)
        return True

    def note_crf(self) -> None:
        """The user moved the CRF values: they are this folder's from now on (kept by keep_crf)."""
        project = self.project
        if project is not None:
            project.set_crf(CRFSettings(self.crf.params, self.crf.backend_name))
            self.crf_from_folder = self._crf_moved = True

    def keep_crf(self, may_write: Callable[[], bool]) -> None:
        """Leaving the folder: CRF values moved here and not yet saved with a label are written to its
        project.json (when this window may write the folder), so they are there when it opens again."""
        project = self.project
        if project is None or not self._crf_moved or not project.dirty or not may_write():
            return
        self._crf_moved = False
        try:
            project.write()
        except EngineError as exc:
            self.error.emit(f"The CRF values moved in {project.labels_dir.parent.name} were not kept: {exc}")
            return
        self.activity.emit(f"CRF values kept in {project.project_path}")

    def record_settings(self) -> None:
        """Before a label save: the folder records the model, channel map and CRF values in use."""
        project = self.project
        if project is not None:
            self._note_model()
            project.set_crf(CRFSettings(self.crf.params, self.crf.backend_name))

    def _write_project(self) -> bool:
        if self.read_only():
            return False   # this session only: another window writes the folder
        try:
            self.project.write()
        except EngineError as exc:
            self.error.emit(f"The class list is changed for this session only: {exc}")
            return False
        self.report_kept_aside()
        return True

    def report_kept_aside(self) -> None:
        """Say where an unreadable class_names.txt or project.json went when the folder's classes replaced it."""
        project = self.project
        if project is not None and project.kept_aside:
            moved = kept_aside_words(project.kept_aside)
            project.kept_aside.clear()
            self.error.emit(f"{project.labels_dir}: {moved}; the folder's classes were written in its place")

    def expect_model(self, path) -> None:
        """A checkpoint is being loaded: opening a folder now compares its recorded model with this one."""
        self.model_request = path

    def set_model_classes(self, class_list) -> bool:
        """Other names/colours for the model's classes (the count must match the model); the folder's own class
        list is then reconciled with them."""
        loaded = self._model()
        if class_list is None and loaded is not None:
            class_list = loaded.spec.class_list()
        n = loaded.spec.n_classes if loaded is not None else None
        if class_list is None or (n is not None and len(class_list) != n):
            self.error.emit(f"The class list has {len(class_list) if class_list else 0} classes but the model "
                            f"predicts {n}; pick a list with {n} names.")
            return False
        old, self.model_classes = self.channel_map, class_list
        self.reconcile()
        if old is not None and self.channel_map is not None:
            self.after_map_change(old, self.channel_map)
        self.model_changed.emit()
        return True

    # ----- class edits ------------------------------------------------------------------------------
    def edit_classes(self, classes: FolderClasses, what: str = "Classes changed") -> bool:
        """Use ``classes`` as the folder's list (from the class editor) and write it. Ids are stable, so saved
        labels are untouched; a kept id keeps its model channel, a new one takes the model class of its name."""
        project = self.project
        if project is None:
            self.error.emit("Open a folder before editing its classes.")
            return False
        if classes == project.classes:
            return True
        if self.read_only():   # (a walk: a read-only window added and renamed classes in project.json)
            self.error.emit("This window is read-only (another window holds the folder): its class list is edited "
                            "in that window.")
            return False
        old = self.channel_map
        if old is not None:
            index = {match_key(n): c for c, n in enumerate(self.model_classes.names)}
            source = list(old.source[:len(classes)])
            source += [index.get(match_key(classes.by_id(i).name), -1) for i in range(len(source), len(classes))]
            new = ChannelMap(tuple(source), old.n_model)
        project.set_classes(classes)
        self.class_list = classes.class_list()
        if old is not None:
            self._set_map(new)
            self._note_model()
            self.after_map_change(old, new)
        if self.image.state is not None and self.image.state.edits is not None:
            self.image.state.edits.n_classes = len(classes)
        ok = self._write_project()
        self.model_changed.emit()
        if ok:
            self.edited.emit()
            self.activity.emit(f"{what}; saved in {project.project_path}")
        return ok

    def set_hidden(self, hidden) -> bool:
        """Hidden flags by id (the panel's tick boxes), saved with the folder; nothing else changes."""
        project = self.project
        if project is None or project.classes is None:
            return False
        project.set_classes(project.classes.with_hidden(hidden))
        return self._write_project()

    def after_map_change(self, old: ChannelMap, new: ChannelMap) -> None:
        """The current probabilities are in the old folder ids: fit them to the new count now (so a CRF or a
        stroke with a new class never sees too few channels), and predict again if any model channel moved."""
        if old == new:
            return
        self.channels_changed.emit()   # predictions made with the old map (prefetched ones too) are stale
        st = self.image.state
        if st is None or st.probs is None:
            return
        n, k = len(new.source), min(len(old.source), len(new.source))
        extra = new.source[k:] + old.source[k:]
        if new.source[:k] == old.source[:k] and all(s < 0 for s in extra):
            # only classes the model does not know came or went: their probabilities are 0, the labels stand
            self.image.refit_channels(fit_channels(st.probs, n),
                                      None if st.crf_probs is None else fit_channels(st.crf_probs, n))
            return
        self.image.take_prediction(Prediction.from_probs(fit_channels(st.probs, n)), keep_crf=False)
        self.predict_again.emit()

    def class_usage(self, class_id: int) -> tuple[list[str], object]:
        """(the open image if its unsaved painted labels use ``class_id``, a job listing the saved label files that do).
        The first part is read here on the GUI thread; the job only reads files, for a worker lane."""
        st, entries = self.image.state, list(self._folder().entries)
        # painted pixels only: the rest are the model's and go with the class's output (a walk erased a taught
        # class's stroke as told and was refused again: the model still predicted it there)
        unsaved = st is not None and st.dirty and st.locked is not None and \
            bool((st.labels[st.locked] == class_id).any())
        open_use = [st.path.name + " (open, unsaved)"] if unsaved else []
        listed = entries[st.index].label_path if unsaved and 0 <= st.index < len(entries) else None

        def job(cancel, report):
            from engine.io.labels import read_label_png
            used = []
            for entry in entries:
                if cancel():
                    break
                if entry.label_path == listed:   # listed once, as the open image (a walk read it twice)
                    continue
                if entry.label_path.is_file():
                    try:
                        if (read_label_png(entry.label_path) == class_id).any():
                            used.append(entry.label_path.name)
                    except EngineError as exc:
                        used.append(f"{entry.label_path.name} (unreadable: {exc})")
            return used
        return open_use, job

    # ----- label values that are not classes --------------------------------------------------------
    def report_unknown(self, state) -> None:
        """Say which label values of the opened image (from its label PNG or restored edits) are no class."""
        if state is None or state.labels is None or self.class_list is None:
            return
        n = len(self.class_list)
        values, pixels = unknown_values(state.labels, n)
        if values:
            label_path = self._folder()[state.index].label_path
            where = (f"{label_path.parent.name}/{label_path.name}" if not state.hand
                     else f"the restored unsaved edits of {state.path.name}")
            self.error.emit(describe_unknown(where, values, pixels, n) + "; drawn in orange checks, Save asks")

    def resolve_unknown(self) -> bool | None:
        """Before a save: False if the labels hold only classes and void (or unknown values were just made void
        or given classes), True to keep unknown values as they are, None if the user cancelled."""
        st, n = self.image.state, len(self.class_list)
        values, pixels = unknown_values(st.labels, n)
        if not values:
            return False
        answer = self.ask_unknown(describe_unknown(st.path.name, values, pixels, n), values)
        if answer == VOID_THEM:
            self.edits.set_labels(void_unknown(st.labels, n))
            return False
        if answer == ADD_CLASSES and max(values) < VOID:
            classes = self.project.classes or FolderClasses.from_class_list(self.class_list)
            for v in range(len(classes), max(values) + 1):
                name, k = f"class {v}", 2
                while classes.id_of(name) is not None:
                    name, k = f"class {v} ({k})", k + 1
                classes = classes.add(name)
            self.edit_classes(classes, f"Added classes {n}-{max(values)} for the values in {st.path.name}")
            return False
        if answer == KEEP_THEM:
            return True
        self.activity.emit(f"Not saved: {st.path.name} holds label values that are not classes")
        return None

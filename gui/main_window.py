"""Main window: assembles canvas, panels, menus and status bar, and wires them to the controller.

It owns no computation: images, models and CRF go through gui.session.controller; overlays are drawn by
gui.canvas.overlays; hand editing is gui.session.editor (tools and keys in gui.tools.actions). Preferences
persist in QSettings.
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow

from engine.crf import CRFParams, backend_names
from engine.crf.params import preset_for_model
from gui.boot import preload
from gui.boot.icon import app_icon
from gui.canvas.canvas import Canvas
from gui.canvas.focus import BackToCanvas
from gui.canvas.opening_veil import OpeningVeil
from gui.canvas.overlay_legend import OverlayLegend
from gui.canvas.overlays import OverlayPresenter
from gui.canvas.uncertainty_legend import UncertaintyLegend
from gui.dialogs import damaged_journal, prompts
from gui.dialogs.import_labels import ImportDialog
from gui.dialogs.prelabel import PrelabelDialog
from gui.menus.export import ExportMenu
from gui.menus.folder_lock import FolderLockActions
from gui.menus.help import HelpMenu
from gui.menus.image_scaling import ImageScalingMenu
from gui.menus.learn import LearnMenu
from gui.menus.menubar import build_menubar
from gui.menus.model import ModelMenu
from gui.menus.recent_folders import RecentFolders
from gui.panels.class_editor import ClassEditor
from gui.panels.classes import ClassPanel
from gui.panels.crf import CRFPanel, scrolled
from gui.panels.images import ImagesPanel
from gui.panels.readout import Readout
from gui.panels.status_bar import StatusBar
from gui.panels.view_toolbar import ViewToolbar
from gui.session.controller import AnnotatorController
from gui.tools.actions import EditActions
from gui.window.drop import DropOpener
from gui.window.layout import WindowLayout
from gui.window.preferences import Preferences
from gui.window.restore import restore_preferences
from gui.window.title import ProjectState

log = logging.getLogger(__name__)
WARM_UP_DELAY_MS = 300   # the CRF kernels load after the window has painted
PREPARING_SEP = " \u2014 "   # "Ready: img.png — reading this image's features for learning…"


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, parent=None):
        super().__init__(parent)
        preload.start()   # skimage.color, off the GUI thread before a palette binds
        self.settings = settings if settings is not None else QSettings()
        self.prefs = Preferences(self.settings)   # every key, typed (gui/window/preferences.py)
        self.setWindowTitle("DeepLab Annotator")
        self.setWindowIcon(app_icon())
        self.resize(1280, 800)
        self.last_error = ""
        self._closed = False
        self._after_save = None   # an image to move to once the save under way is done (go_to)
        self._preset_model = None   # the model whose CRF preset the panel was last given
        self.leaving = "moving on"
        self.ctl = AnnotatorController(self)
        self.canvas = Canvas(self)
        self.opening_veil = OpeningVeil(self.canvas)   # over the last image while the next one opens
        self.setCentralWidget(self.canvas)
        self.presenter = OverlayPresenter(self.canvas)
        self.presenter.painter.drawing.connect(self._on_drawing)
        self.images_panel = ImagesPanel()
        self.file_list = self.images_panel.list
        self.class_panel = ClassPanel()
        self.crf_panel = CRFPanel(backend_names(), self.ctl.crf.backend_name)
        self._dock("Images", self.images_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Classes", self.class_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("CRF", scrolled(self.crf_panel), Qt.DockWidgetArea.RightDockWidgetArea)
        self.toolbar = ViewToolbar(self)
        self.addToolBar(self.toolbar)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self.editing = EditActions(self, self.ctl.editor)
        self.addToolBarBreak()
        self.addToolBar(self.editing.toolbar)
        self.export_menu = ExportMenu(self)
        self.model_menu = ModelMenu(self)
        self.recent = RecentFolders(self)
        self.prelabel = PrelabelDialog.for_window(self)   # File > Pre-label folder…
        self.importer = ImportDialog.for_window(self)     # File > Import labels…
        self.lock_actions = FolderLockActions(self)       # read-only / take over (one writer per folder)
        self.learn = LearnMenu(self)   # adaptation switch, train on saved labels, CRF tuning (gui/menus/learn.py)
        self.help_menu = HelpMenu(self)
        self.image_scaling = ImageScalingMenu(self)       # Image > Bands and scaling… (gui/menus/image_scaling.py)
        self.menus = build_menubar(self)                  # the one place that orders the menus
        self.editing.toolbar.addAction(self.learn.adapt_action)
        self.status.addPermanentWidget(self.lock_actions.badge)
        self._wire()
        self.class_editor = ClassEditor(self)   # add/rename/recolour/reorder/delete; the folder's questions
        self.legend = UncertaintyLegend(self.canvas, self.prefs.uncertainty_cmap)
        self.presenter.opts.uncertainty_cmap = self.legend.choice()
        self.legend.cmap_changed.connect(self._on_cmap)
        self.overlay_legend = OverlayLegend(self.canvas)   # changed by CRF, locks, heat map, unknown values
        self.back_to_canvas = BackToCanvas(self.canvas)    # Enter in a small box: the next shortcut is the image's
        self.back_to_canvas.watch(self.editing.size_box, self.images_panel.filter, self.class_panel.tree,
                                  *[t.size_box for t in self.editing.tools.values() if getattr(t, "size_box", None)],
                                  *[w for row in self.crf_panel.rows.values() for w in (row.spin, row.slider)])
        self.readout = Readout(self)
        self.status.addPermanentWidget(self.learn.status_label)
        self.project = ProjectState(self)
        self.drop = DropOpener(self, self.canvas.viewport(), self.file_list.viewport())
        restore_preferences(self)
        self.layout_state = WindowLayout(self, self.view_menu)
        if not self.ctl.crf.warm:   # once the window is up: loading numba's kernels holds the GIL for a while
            QTimer.singleShot(WARM_UP_DELAY_MS, self, self._warm_up)

    def _warm_up(self) -> None:
        # a CRF run already under way loads the kernels itself; a warm-up submitted now would supersede it
        if not self.ctl.crf.warm and not self._closed and not self.ctl.lanes["crf"].busy:
            self.ctl.crf.warm_up()

    # ----- construction --------------------------------------------------------------------------
    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _wire(self) -> None:
        c, tb = self.ctl, self.toolbar
        c.folder_opened.connect(self._on_folder_opened)
        c.image_opened.connect(self._on_image_opened)
        c.pixels_changed.connect(self._on_pixels_changed)
        c.results_changed.connect(self._on_results_changed)
        c.preview_changed.connect(self._on_preview_changed)
        c.window_refined.connect(self._on_window_refined)
        c.params_reverted.connect(self._on_params_reverted)
        c.waiting.connect(self._on_waiting)
        c.status_changed.connect(self.file_list.set_status)
        c.model_changed.connect(self._on_model_changed)
        c.adapt.status_changed.connect(lambda _text: self.class_panel.set_origins(c.learnt.origins()))
        c.device_changed.connect(self.status.set_device)
        c.saved.connect(self.status.end_error_hold)
        c.activity.connect(self.status.set_activity)
        c.progress.connect(lambda d, t, s: (self.status.set_progress(d, t), self.status.set_activity(s),
                                            prompts.waiting_progress(self, d, t)))
        c.busy_changed.connect(self._on_busy)
        c.error.connect(self.show_error)
        c.save_failed.connect(lambda msg: prompts.warn(self, "Could not save the labels", msg))
        c.save_ended.connect(self._on_save_ended)
        c.classes.project_problems.connect(
            lambda text: prompts.notice(self, "This folder's class list cannot be used", text))
        c.learnt.not_kept.connect(lambda text: prompts.notice(self, "What the model learnt was not saved",
                                                              text + "\n\nFree some space and save again to keep it."))
        c.learnt.set_aside.connect(lambda text: prompts.notice(self, "What the model learnt could not be restored",
                                                                text))
        c.score_changed.connect(self.file_list.set_score)
        c.order_changed.connect(lambda: (self.file_list.set_order(c.ordering.order), self._show_position()))
        c.ask_restore = lambda entries: prompts.ask_restore(self, entries)
        c.recovery.damaged.connect(lambda records: damaged_journal.show_damaged_journal(self, records))
        ed = c.editor
        ed.region_changed.connect(self._on_region_edited)
        ed.edit_finished.connect(lambda _kind: (self.class_panel.set_shares(self.presenter.shares()),
                                                self.refresh_legend()))
        ed.message.connect(self.show_error)
        ed.paint_class_changed.connect(self.class_panel.set_paint_class)
        self.class_panel.paint_class_selected.connect(ed.set_paint_class)
        self.editing.auto_refine.toggled.connect(self._on_auto_refine)
        self.status.cancel.clicked.connect(c.cancel)
        self.file_list.image_requested.connect(self.go_to)
        self.crf_panel.params_changed.connect(self._on_params)
        self.crf_panel.backend_changed.connect(self._on_backend)
        self.ctl.crf.backend_set.connect(self.crf_panel.show_backend)
        self.class_panel.visibility_changed.connect(self._on_visibility)
        self.class_panel.class_selected.connect(self._on_class_selected)
        self.model_menu.load_requested.connect(self.load_model)
        self.model_menu.class_list_requested.connect(c.classes.set_model_classes)
        self.model_menu.device_requested.connect(self._on_device)
        self.model_menu.pipeline_requested.connect(c.loader.set_pipeline)
        self.model_menu.error.connect(self.show_error)
        tb.fit.triggered.connect(self.canvas.fit)
        tb.actual.triggered.connect(self.canvas.actual_size)
        tb.zoom_in.triggered.connect(lambda: self.canvas.zoom_by(1.25))
        tb.zoom_out.triggered.connect(lambda: self.canvas.zoom_by(0.8))
        tb.labels.toggled.connect(lambda on: self._set_opt("show_labels", on, self.presenter.render_labels))
        tb.locks.toggled.connect(lambda on: self._set_opt("show_locks", on, self.presenter.render_locks))
        tb.uncertainty.toggled.connect(lambda on: (self._set_opt("show_uncertainty", on,
                                                                 self.presenter.render_uncertainty),
                                                   self.legend.set_shown(on)))
        tb.changed.toggled.connect(lambda on: self._set_opt("show_changed", on, self.presenter.render_changed))
        tb.before.toggled.connect(lambda on: self._set_opt("before_crf", on, self._on_results_changed))
        tb.opacity.valueChanged.connect(self._on_opacity)

    # ----- folder / navigation -------------------------------------------------------------------
    def open_folder(self, folder: Path, select: Path | None = None) -> bool:
        """Open ``folder`` at image ``select``, else where the user last was in it, else at its first image."""
        if not self.keep_work("opening another folder"):
            return False
        name = Path(select).name if select is not None else self.project.last_image(folder)
        ok = self.ctl.open_folder(folder, start_name=name)
        self._show_position()
        if ok:
            self.prefs.last_folder = str(folder)
        return ok

    def open_folder_dialog(self) -> None:
        start = self.prefs.last_folder
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", start)
        if folder:
            self.open_folder(Path(folder))

    def current_index(self) -> int:
        return self.ctl.index

    def go_to(self, index: int) -> bool:
        if self.ctl.dataset is None or index == self.current_index() or not 0 <= index < len(self.ctl.dataset):
            self.file_list.set_current(self.current_index())
            return False
        if self.ctl.saving:   # Ctrl+S, then D at once: move on when the save is done, not inside its wait (a walk:
            self._after_save = index   # the save was written, then said 'Not saved: another image was opened')
            self.status.set_activity(f"Moving to {self.ctl.dataset[index].path.name} when the save is done…")
            return False
        if not self.keep_work():
            self.file_list.set_current(self.current_index())
            return False
        ok = self.ctl.open_index(index)
        if ok:
            self.opening_veil.show_after(self.ctl.dataset[index].path.name)
        self._show_position()
        return ok

    def _on_save_ended(self) -> None:
        index, self._after_save = self._after_save, None
        if index is not None and not self._closed:
            QTimer.singleShot(0, self, lambda: self.go_to(index))   # after the save's own messages

    def _show_position(self) -> None:
        ds, i = self.ctl.dataset, self.ctl.index
        if ds is not None and i >= 0:
            self.file_list.set_current(i)
            self.status.set_position(self.ctl.ordering.position_text(i))

    def go(self, delta: int) -> bool:
        """Step through the rows the list shows (folder order or by uncertainty, narrowed by the filter)."""
        if self.ctl.dataset is None or not self.ctl.ordering.order:
            return False
        target = self.file_list.step(self.current_index(), delta, self.ctl.ordering.order)
        if target is None or target == self.current_index():   # (a walk's D did nothing, unsaid, at a filter's end)
            self.status.set_activity(f"No image{' the filter shows' if self.file_list.filtering else ''} "
                                     f"{'after' if delta > 0 else 'before'} this one in the list")
            return False
        return self.go_to(target)

    def go_next_unsaved(self) -> bool:
        if self.ctl.dataset is None or not len(self.ctl.dataset):
            return False
        j = self.ctl.dataset.next_unsaved(self.current_index(), self.file_list.shown(self.ctl.ordering.order))
        if j is None:
            self.status.set_activity("Every image is saved.")
            return False
        return self.go_to(j)

    def save(self) -> bool:
        return self.ctl.save()

    def keep_work(self, leaving: str = "moving on") -> bool:
        """Before leaving the current image (``leaving``: what for, as the prompt says it): True if nothing unsaved
        would be lost."""
        st = self.ctl.state
        if st is None or not st.dirty:
            return True
        if self.autosave_action.isChecked() and not self.ctl.guard.read_only and self.ctl.save():
            return True   # read-only, or the save failed: ask, so the window can still be left (Discard)
        self.leaving = leaving   # what the prompt says the user is doing (prompts.ask_unsaved reads it)
        answer = prompts.ask_unsaved(self, st.path.name)
        if answer == prompts.SAVE:
            return self.ctl.save()
        if answer == prompts.DISCARD:
            self.ctl.discard_edits()
            return True
        return False

    # ----- model ---------------------------------------------------------------------------------
    def load_model(self, path: Path) -> None:
        self.ctl.loader.load(path)

    def _on_device(self, pref: str) -> None:
        self.prefs.device = pref
        self.ctl.loader.set_device(pref)

    def _on_model_changed(self) -> None:
        cl = self.ctl.classes.class_list
        if cl is not None:
            self.class_panel.set_classes(cl.names, cl.palette, *self.ctl.classes.class_view())
            self.class_panel.set_origins(self.ctl.learnt.origins())
            ed = self.ctl.editor
            if not ed.set_paint_class(ed.paint_class if ed.paint_class < len(cl) else min(1, len(cl) - 1)):
                ed.set_paint_class(0)
            self.class_panel.set_paint_class(ed.paint_class)
            self.editing.refresh()
            self.presenter.names = cl.names
            self.presenter.bind(self.ctl.state, cl.palette_array())
            self.legend.set_palette(cl.palette_array())
        loaded = self.ctl.loader.loaded
        if loaded is not None:
            self.model_menu.set_pipeline(loaded.spec.pipeline, self.ctl.loader.own_pipeline)
        if loaded is not None and loaded is not self._preset_model:   # a new model, not a new class list
            self._preset_model = loaded
            self.prefs.last_model = str(loaded.path)
            self.model_menu.set_loaded(loaded.path, loaded.spec.name)
            if not self.ctl.classes.crf_from_folder:   # the folder's own CRF values are never replaced
                self._use_model_preset("for the model " + (loaded.spec.name or Path(loaded.path).name))
        self._on_results_changed()

    # ----- views ---------------------------------------------------------------------------------
    def _use_model_preset(self, why: str) -> None:
        """The CRF preset of the loaded model (tuned for that checkpoint, else the one it was published with),
        taken now and said in the status bar: a folder without CRF values of its own starts from it."""
        loaded = self.ctl.loader.loaded
        name = (preset_for_model(loaded.spec, loaded.path, self.crf_panel.presets) if loaded is not None
                else next(iter(self.crf_panel.presets)))
        if self.crf_panel.preset_name() != name or self.crf_panel.params() != self.ctl.crf.params:
            self.crf_panel.set_preset(name, emit=False)
            self.ctl.crf.set_params(self.crf_panel.params())
        # said also when it was selected already (a walk missed the message then)
        self.status.set_activity(f"CRF preset {self.crf_panel.preset_box.currentText()} {why}")

    def _on_folder_opened(self) -> None:
        self.opening_veil.done()   # (an image of the last folder may have been opening)
        if not self.ctl.classes.crf_from_folder:   # no CRF values of its own: the model's preset, not the last folder's
            self.crf_panel.drop_folder_preset()
            self._use_model_preset("(this folder has no CRF values of its own yet)")
        self.file_list.set_dataset(self.ctl.dataset)
        if self.ctl.dataset is not None and len(self.ctl.dataset) == 0:
            self.status.set_position("no images")

    def _on_image_opened(self) -> None:
        self.opening_veil.done()
        st, cl = self.ctl.state, self.ctl.classes.class_list
        if st is None:
            self.canvas.clear()
        else:
            self.canvas.set_image(st.image)
        self.presenter.bind(st, cl.palette_array() if cl is not None else None)
        self.presenter.render()
        self.class_panel.set_shares(self.presenter.shares())
        self._show_position()
        self.status.set_labels_kind(self.ctl.crf.shown_kind())
        self.refresh_legend()

    def _on_pixels_changed(self) -> None:
        """The open image was read again with other bands or scaling: new pixels, the same view and labels."""
        st = self.ctl.state
        if st is not None:
            self.canvas.set_image(st.image, keep_view=True)
            self._on_results_changed()

    def _on_results_changed(self) -> None:
        self.presenter.render()
        self.class_panel.set_shares(self.presenter.shares())
        self.status.set_labels_kind(self.ctl.crf.shown_kind())
        self.refresh_legend()

    def refresh_legend(self) -> None:
        """The overlay legend lists what is on screen now (cheap when nothing changed)."""
        self.overlay_legend.set_items(self.presenter.legend_items())

    def _on_preview_changed(self) -> None:
        """A running CRF's labels: redraw the label layer only (probabilities come with the result)."""
        self.presenter.render_labels()
        self.class_panel.set_shares(self.presenter.shares())
        self.status.set_labels_kind(self.ctl.crf.shown_kind())

    def _on_window_refined(self, boxes) -> None:
        """Local CRF windows: redraw their boxes (and the probability layers, whose values changed there)."""
        for box in boxes:
            self.presenter.render_region(box)
        self.presenter.render_heat()
        self.presenter.render_uncertainty()
        self.presenter.render_changed()
        self.class_panel.set_shares(self.presenter.shares())
        self.status.set_labels_kind(self.ctl.crf.shown_kind())
        self.refresh_legend()

    def _on_params_reverted(self, params: CRFParams) -> None:
        """Esc: the CRF settings went back to those of the labels shown (the panel must not claim others)."""
        self.crf_panel.set_params(params)
        self.ctl.classes.note_crf()
        self.status.set_labels_kind(self.ctl.crf.shown_kind())

    def _on_waiting(self, text: str) -> None:
        prompts.waiting(self, text, self.ctl.cancel)

    def _on_region_edited(self, box) -> None:
        """A stroke changed pixels: redraw just that box (the raw 'before CRF' view would hide the edit)."""
        if self.toolbar.before.isChecked():
            self.toolbar.before.setChecked(False)   # re-renders everything
        else:
            self.presenter.render_region(box)

    def _on_auto_refine(self, on: bool) -> None:
        self.ctl.edits.auto_refine = on
        self.prefs.auto_refine = on

    def _set_opt(self, name: str, value, render) -> None:
        setattr(self.presenter.opts, name, value)
        render()
        self.refresh_legend()

    def _on_opacity(self, value: int) -> None:
        self.presenter.set_opacity(value / 100)
        self.prefs.opacity = value

    def _on_visibility(self, visible) -> None:
        self._set_opt("visible", visible, self.presenter.render_labels)

    def _on_class_selected(self, index: int) -> None:
        self._set_opt("heat_class", index, self.presenter.render_heat)

    def _on_cmap(self, name: str) -> None:
        self.prefs.uncertainty_cmap = name
        self._set_opt("uncertainty_cmap", name, self.presenter.render_uncertainty)

    def focus_filter(self) -> None:
        self.images_panel.parentWidget().show()
        self.images_panel.filter.setFocus()
        self.images_panel.filter.selectAll()

    def _on_params(self, params: CRFParams) -> None:
        self.ctl.crf.set_params(params)
        self.ctl.classes.note_crf()   # the values are this folder's (labels/project.json), never the next one's
        self.status.set_labels_kind(self.ctl.crf.shown_kind())   # until their answer: 'before the new settings'

    def _on_backend(self, name: str) -> None:
        """The user's engine: the preference, and this folder's (a walk's pick was undone by the folder's record)."""
        self.prefs.crf_backend = self.ctl.crf.preferred = name
        self.ctl.crf.set_backend(name)
        self.ctl.classes.note_crf()

    def _on_drawing(self, text: str) -> None:
        """A large image's heat map or uncertainty is coloured in the background: say so until it shows."""
        if text:
            return self.status.set_activity(text)
        self.refresh_legend()   # (its row waited for the layer: a walk's heat map at 6 MP showed with no legend)
        if self.status.activity.text().startswith("Drawing the"):
            self.status.set_activity(f"Ready: {self.ctl.state.path.name}" if self.ctl.state is not None else "Ready")

    def _on_busy(self, busy: bool) -> None:
        """A job that ends hands over to the next (a prediction to its CRF, a preview to the exact run) after its
        lane says idle: the window settles once the event loop has run the handover, so it does not flash 'Ready'
        while the bar and Cancel stay, nor restart the elapsed time (a walk: 1-7 s of 'Ready' at 12-24 MP)."""
        if busy and not self.ctl.preparing:
            self.status.set_busy(True)
        else:
            text = self.status.activity.text()
            QTimer.singleShot(0, self, lambda: self._settle_busy(text))   # (dropped if the window is gone)

    def _settle_busy(self, text: str) -> None:
        """Idle after the handover: 'Ready' replaces a running step's message, unless a new one came meanwhile
        (e.g. 'Predicting img2.png (begun ahead)…': the wait for a prefetch, which runs in no lane of the image).
        Only the adapt lane's preparation running (ctl.preparing) counts as idle, and the message says it."""
        if self.ctl.busy and not self.ctl.preparing:
            return
        self.status.set_busy(False)
        now = self.status.activity.text()
        base = now.split(PREPARING_SEP)[0]
        if base == text.split(PREPARING_SEP)[0] and base.startswith(("Predicting", "CRF", "Refining", "Learning")):
            base = "Ready"
        preparing = self.ctl.preparing
        want = f"{base}{PREPARING_SEP}{preparing}…" if preparing else base
        if want != now:
            self.status.set_activity(want)

    def show_error(self, message: str) -> None:
        log.warning("%s", message)
        self.last_error = message
        self.status.set_activity(message, error=True)

    # ----- shutdown ------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802
        if self._closed:
            event.accept()
            return
        if not self.keep_work("quitting"):
            event.ignore()
            return
        self._closed = True
        self.prefs.geometry = self.saveGeometry()
        self.prelabel.shutdown()
        self.importer.shutdown()
        self.ctl.shutdown()
        event.accept()


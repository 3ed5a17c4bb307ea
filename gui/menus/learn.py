"""The window's learning actions: Edit > Adapt the model to corrections (the switch), Model > Carry adaptation to
the next images / Reset adaptation / Export adapted model… / Train on saved labels…, CRF > Tune on saved labels…, and the status-bar note
"model adapted on N strokes / M images" (``status_label``). gui.menus.menubar places the actions; the window puts
the label in the status bar.

Binds gui.session.adaptation and the dialogs to the window; the switches persist in gui.window.preferences
(learn_adapt, learn_carry).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from engine.crf.params import preset_named
from engine.errors import EngineError
from engine.learn.export import exported_preset

from gui.dialogs import prompts
from gui.dialogs.train import TrainDialog
from gui.dialogs.tune import TuneDialog


class LearnMenu(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = w = window
        ctl, adapt, s = window.ctl, window.ctl.adapt, window.prefs
        self.adapt_action = QAction("Adapt the &model to corrections", w, checkable=True)
        self.adapt_action.setIconText("Adapt model")   # its toolbar button: the long name overflowed at 1280 px
        self.adapt_action.setToolTip("After each stroke the model's head learns the corrected pixels, so similar "
                                     "regions flip with it (needs auto-refine)")
        self.adapt_action.setChecked(s.learn_adapt)
        adapt.set_enabled(self.adapt_action.isChecked())
        self.adapt_action.toggled.connect(self._on_adapt)

        self.carry_action = QAction("&Carry adaptation to the next images", w, checkable=True)
        self.carry_action.setToolTip("Keep what the corrections taught when moving on (prefetched images are "
                                     "predicted again with it)")
        self.carry_action.setChecked(s.learn_carry)
        adapt.set_carry(self.carry_action.isChecked())
        self.carry_action.toggled.connect(self._on_carry)
        self.reset_action = QAction("&Reset adaptation", w)
        self.reset_action.setToolTip("Forget what the corrections taught: back to the network's own head (the "
                                     "folder's saved learning too)")
        self.reset_action.triggered.connect(lambda _checked=False: self.reset())
        self.train_action = QAction("&Train on saved labels…", w)
        self.train_action.setToolTip("Fine-tune the network (or its head) on this folder's saved labels and save "
                                     "a new checkpoint")
        self.train_action.triggered.connect(self.open_train_dialog)

        self.export_action = QAction("&Export adapted model…", w)
        self.export_action.setToolTip("Save the model with what your strokes taught it (the folder's classes "
                                      "included) as a checkpoint that predict, prelabel and finetune load")
        self.export_action.triggered.connect(lambda _checked=False: self.export_adapted())   # not triggered's bool

        self.tune_action = QAction("&Tune on saved labels…", w)
        self.tune_action.setToolTip("Search the CRF values that best match this folder's saved labels")
        self.tune_action.triggered.connect(self.open_tune_dialog)

        self.status_label = window.status.fact_label("What the corrections have taught the model so far (Model > "
                                                     "Reset adaptation)")
        adapt.status_changed.connect(self.status_label.setText)
        self.train_dialog = None
        self.tune_dialog = None

    def reset(self) -> bool:
        """Model > Reset adaptation, after asking when the folder keeps what was learnt (it is removed too)."""
        ctl = self.window.ctl
        if ctl.guard.read_only:   # (a walk: reset here unasked, then Take over and a save removed the folder's head)
            prompts.warn(self.window, "Reset adaptation",
                         "This window is read-only (another window holds the folder): reset adaptation in that "
                         "window, or take the folder over first (File > Take over folder).")
            return False
        head, store = ctl.adapt.carried_head, ctl.learnt.store()
        if head is not None and not head.is_original and store is not None and \
                not prompts.confirm(self.window, "Reset adaptation",
                                    f"Forget what the corrections taught ({head.describe()})? The copy this "
                                    "folder keeps is removed too."):
            return False
        ctl.learnt.reset()
        return True

    def _on_adapt(self, on: bool) -> None:
        self.window.prefs.learn_adapt = on
        self.window.ctl.adapt.set_enabled(on)

    def _on_carry(self, on: bool) -> None:
        self.window.prefs.learn_carry = on
        self.window.ctl.adapt.set_carry(on)

    def export_adapted(self, path=None) -> Path | None:
        """Ask where (unless ``path`` is given) and write the adapted model; None when cancelled or refused."""
        w, ctl = self.window, self.window.ctl
        if path is None:
            loaded = ctl.loader.loaded
            stem = Path(loaded.path).stem if loaded is not None else "model"
            start = (ctl.dataset.folder.parent if ctl.dataset is not None else Path.home()) / f"{stem}-adapted.pt"
            path, _ = QFileDialog.getSaveFileName(w, "Export adapted model", str(start), "Checkpoints (*.pt)")
            if not path:
                return None
        crf = w.crf_panel.params()
        try:
            out = ctl.learnt.export(Path(path), crf=crf)
        except EngineError as exc:
            w.show_error(str(exc))
            return None
        named = preset_named(crf)
        note = "" if named else " Your own CRF slider values are not stored in it."
        w.status.set_activity(f"Exported the adapted model to {out} (CRF preset "
                              f"{named or exported_preset(ctl.loader.loaded)}).{note}")
        return out

    def open_train_dialog(self) -> None:
        if self.train_dialog is None:
            self.train_dialog = TrainDialog(self.window)
        self.train_dialog.refresh()
        self.train_dialog.show()
        self.train_dialog.raise_()

    def open_tune_dialog(self) -> None:
        if self.tune_dialog is None:
            self.tune_dialog = TuneDialog(self.window)
        self.tune_dialog.refresh()
        self.tune_dialog.show()
        self.tune_dialog.raise_()

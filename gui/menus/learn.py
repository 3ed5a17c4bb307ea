"""The window's learning actions: Edit > Adapt the model to corrections (the switch), Model > Carry adaptation to
the next images / Reset adaptation / Train on saved labels…, CRF > Tune on saved labels…, the status-bar note
"model adapted on N strokes / M images", and this folder's tuned CRF preset in the CRF panel.

Binds gui.session.adaptation and the dialogs to the window; preferences persist in QSettings (learn/adapt, learn/carry).
"""
from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel

from engine.errors import EngineError
from engine.learn.saved import saved_images

FOLDER_PRESET = "folder"
FOLDER_PRESET_LABEL = "This folder (tuned)"


class LearnMenu(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = w = window
        ctl, adapt, s = window.ctl, window.ctl.adapt, window.settings
        self.adapt_action = QAction("Adapt the &model to corrections", w, checkable=True)
        self.adapt_action.setToolTip("After each stroke the model's head learns the corrected pixels, so similar "
                                     "regions flip with it (needs auto-refine)")
        self.adapt_action.setChecked(s.value("learn/adapt", True, type=bool))
        adapt.set_enabled(self.adapt_action.isChecked())
        self.adapt_action.toggled.connect(self._on_adapt)
        menu = w.editing.menu
        menu.insertAction(_after(menu, w.editing.auto_refine), self.adapt_action)
        w.editing.toolbar.addAction(self.adapt_action)

        m = w.model_menu
        m.addSeparator()
        self.carry_action = QAction("&Carry adaptation to the next images", w, checkable=True)
        self.carry_action.setToolTip("Keep what the corrections taught when moving on (prefetched images are "
                                     "predicted again with it)")
        self.carry_action.setChecked(s.value("learn/carry", True, type=bool))
        adapt.set_carry(self.carry_action.isChecked())
        self.carry_action.toggled.connect(self._on_carry)
        m.addAction(self.carry_action)
        self.reset_action = QAction("&Reset adaptation", w)
        self.reset_action.setToolTip("Forget what the corrections taught: back to the network's own head")
        self.reset_action.triggered.connect(lambda: adapt.reset())
        m.addAction(self.reset_action)
        m.addSeparator()
        self.train_action = QAction("&Train on saved labels…", w)
        self.train_action.setToolTip("Fine-tune the network (or its head) on this folder's saved labels and save "
                                     "a new checkpoint")
        self.train_action.triggered.connect(self.open_train_dialog)
        m.addAction(self.train_action)

        self.crf_menu = w.menuBar().addMenu("&CRF")
        self.tune_action = QAction("&Tune on saved labels…", w)
        self.tune_action.setToolTip("Search the CRF values that best match this folder's saved labels")
        self.tune_action.triggered.connect(self.open_tune_dialog)
        self.crf_menu.addAction(self.tune_action)

        self.status_label = QLabel("")
        self.status_label.setToolTip("What the corrections have taught the model so far (Model > Reset adaptation)")
        w.status.addPermanentWidget(self.status_label)
        adapt.status_changed.connect(self.status_label.setText)
        self.train_dialog = None
        self.tune_dialog = None

    def _on_adapt(self, on: bool) -> None:
        self.window.settings.setValue("learn/adapt", on)
        self.window.ctl.adapt.set_enabled(on)

    def _on_carry(self, on: bool) -> None:
        self.window.settings.setValue("learn/carry", on)
        self.window.ctl.adapt.set_carry(on)

    def use_folder_preset(self, params) -> None:
        panel = self.window.crf_panel
        panel.add_preset(FOLDER_PRESET, FOLDER_PRESET_LABEL, params)
        panel.set_preset(FOLDER_PRESET)
        panel.flush()   # a deliberate choice: no need to wait for the slider debounce

    def open_train_dialog(self) -> None:
        from gui.dialogs.train import TrainDialog

        if self.train_dialog is None:
            self.train_dialog = TrainDialog(self.window)
        self.train_dialog.refresh()
        self.train_dialog.show()
        self.train_dialog.raise_()

    def open_tune_dialog(self) -> None:
        from gui.dialogs.tune import TuneDialog

        if self.tune_dialog is None:
            self.tune_dialog = TuneDialog(self.window, self)
        self.tune_dialog.refresh()
        self.tune_dialog.show()
        self.tune_dialog.raise_()


def saved_count(ctl) -> tuple[int | None, str]:
    """(how many images of the open folder have saved labels, "") or (None, why there is nothing to learn from)."""
    if ctl.dataset is None or ctl.loaded is None:
        return None, "Open a folder and load a model first."
    try:
        return len(saved_images(ctl.dataset.folder)), ""
    except EngineError as exc:
        return None, str(exc)


def _after(menu, action):
    """The action following ``action`` in ``menu`` (insertAction puts a new one before it), or None (the end)."""
    actions = menu.actions()
    i = actions.index(action) if action in actions else len(actions) - 1
    return actions[i + 1] if i + 1 < len(actions) else None

"""The one place that builds and orders the menu bar: File, Edit, View, Navigate, Image, Model, CRF, Help.

Feature modules (editing tools, the model menu, learning, recent folders, the folder lock, pre-labelling, help)
expose their QActions and menus; this module decides where each one goes, so the order no longer follows the
order in which the window happens to construct them (the CRF menu used to land after Help). The window keeps
the actions tests and shortcuts use as attributes (``open_action``, ``save_action``, ``next_action``, ...).
"""
from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

MENU_ORDER = ("&File", "&Edit", "&View", "&Navigate", "&Image", "&Model", "&CRF", "&Help")


def _act(window, menu: QMenu, text: str, slot, shortcut=None) -> QAction:
    act = QAction(text, window)
    if shortcut is not None:
        act.setShortcut(QKeySequence(shortcut))
    act.triggered.connect(slot)
    menu.addAction(act)
    return act


def _insert_after(menu: QMenu, anchor: QAction, action: QAction) -> None:
    """Put ``action`` right after ``anchor`` in ``menu`` (at the end if the anchor is not there)."""
    actions = menu.actions()
    i = actions.index(anchor) if anchor in actions else len(actions) - 1
    menu.insertAction(actions[i + 1] if i + 1 < len(actions) else None, action)


def file_menu(w) -> QMenu:
    f = QMenu("&File", w)
    w.open_action = _act(w, f, "&Open Folder…", w.open_folder_dialog, QKeySequence.StandardKey.Open)
    f.addMenu(w.recent.menu)
    w.save_action = _act(w, f, "&Save labels", w.save, QKeySequence.StandardKey.Save)
    f.addAction(w.importer.action)                       # File > Import labels… (gui/dialogs/import_labels.py)
    f.addMenu(w.export_menu)
    f.addAction(w.prelabel.action)                       # File > Pre-label folder… (gui/dialogs/prelabel.py)
    f.addSeparator()
    w.autosave_action = QAction("&Autosave when leaving an image", w, checkable=True)
    w.autosave_action.toggled.connect(lambda on: setattr(w.prefs, "autosave", on))
    f.addAction(w.autosave_action)
    f.addAction(w.lock_actions.take_over_action)         # one writer per folder (gui/menus/folder_lock.py)
    f.addSeparator()
    _act(w, f, "&Quit", w.close, "Ctrl+Q")
    return f


def edit_menu(w) -> QMenu:
    e = w.editing.menu                                   # tools, undo, brush size (gui/tools/actions.py)
    _insert_after(e, w.editing.auto_refine, w.learn.adapt_action)
    return e


def view_menu(w) -> QMenu:
    v = w.view_menu = QMenu("&View", w)
    for act in w.toolbar.zoom_actions():
        v.addAction(act)
    v.addSeparator()
    for act in w.toolbar.overlay_actions():
        v.addAction(act)
    return v                                             # gui/window/layout.py adds Panels and Theme to it


def navigate_menu(w) -> QMenu:
    n = QMenu("&Navigate", w)
    w.next_action = _act(w, n, "&Next image", lambda: w.go(+1), "D")
    w.prev_action = _act(w, n, "&Previous image", lambda: w.go(-1), "A")
    w.next_unsaved_action = _act(w, n, "Next &unsaved image", w.go_next_unsaved, "Shift+D")
    w.next_unsaved_action.setShortcuts([QKeySequence("Shift+D"), QKeySequence("N")])
    w.filter_action = _act(w, n, "&Filter images…", w.focus_filter, QKeySequence.StandardKey.Find)
    n.addSeparator()
    w.sort_uncertain_action = _act(w, n, "Sort by &uncertainty (most unsure first)", w.ctl.ordering.sort_by_uncertainty,
                                   "Ctrl+U")
    w.sort_name_action = _act(w, n, "Sort by &name", w.ctl.ordering.sort_by_name)
    return n


def image_menu(w) -> QMenu:
    i = QMenu("&Image", w)
    _act(w, i, "&Predict again", w.ctl.request_predict, "F5")
    w.use_model_action = _act(w, i, "&Use model result (keeps hand edits)", w.ctl.edits.use_model_result, "Ctrl+R")
    w.cancel_action = _act(w, i, "&Cancel running work", w.ctl.cancel, "Esc")
    i.addSeparator()
    i.addAction(w.image_scaling.action)                  # Bands and scaling… (gui/menus/image_scaling.py)
    return i


def model_menu(w) -> QMenu:
    m, learn = w.model_menu, w.learn                     # load, class list, device, pipeline (gui/menus/model.py)
    m.addSeparator()
    m.addAction(learn.carry_action)
    m.addAction(learn.reset_action)
    m.addAction(learn.export_action)
    m.addSeparator()
    m.addAction(learn.train_action)
    return m


def crf_menu(w) -> QMenu:
    c = QMenu("&CRF", w)
    c.addAction(w.learn.tune_action)
    return c


def build_menubar(w) -> dict[str, QMenu]:
    """Fill the window's menu bar in MENU_ORDER; returns the menus by title."""
    menus = [file_menu(w), edit_menu(w), view_menu(w), navigate_menu(w), image_menu(w), model_menu(w),
             crf_menu(w), w.help_menu]
    bar = w.menuBar()
    for menu in menus:
        bar.addMenu(menu)
    assert tuple(m.title() for m in menus) == MENU_ORDER
    return {m.title(): m for m in menus}

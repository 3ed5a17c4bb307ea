"""The user's preferences put back into a new window (gui.window.preferences holds the keys): autosave, auto-refine,
opacity, the CRF engine, the device; what cannot be used is said, and a device that cannot be used is not kept."""
from __future__ import annotations

from engine.crf import backend_names, unavailable_backends


def restore_preferences(w) -> None:
    """Apply the preferences of main window ``w`` (at start, before any folder opens)."""
    s = w.prefs
    w.autosave_action.setChecked(s.autosave)
    w.editing.auto_refine.setChecked(s.auto_refine)
    w.ctl.edits.auto_refine = w.editing.auto_refine.isChecked()
    w.toolbar.opacity.setValue(s.opacity)
    w.presenter.set_opacity(w.toolbar.opacity.value() / 100)
    backend = s.crf_backend
    missing = unavailable_backends().get(backend) if backend else None
    if missing:   # chosen last time, not installed now (pydensecrf is an optional extra)
        w.show_error(f"CRF engine '{backend}' is not available, using '{w.ctl.crf.backend_name}': {missing}")
    elif backend and backend in backend_names() and backend != w.ctl.crf.backend_name:
        w.ctl.crf.set_backend(backend)   # (the engine box follows: backend_set)
    w.ctl.crf.preferred = w.ctl.crf.backend_name
    w.ctl.crf.take_params(w.crf_panel.params())   # CRF values are each folder's (_on_folder_opened)
    if problem := s.storage_problem():
        w.show_error(problem)
    w.ctl.loader.set_device(s.device)
    s.device = w.ctl.loader.device_pref   # (one that cannot be used is not kept: it warned at every start)
    w.model_menu.set_device_checked(s.device)

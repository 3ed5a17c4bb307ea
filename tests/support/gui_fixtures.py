"""Shared pytest-qt fixtures and waits for the GUI tests: one way to open, wait on and close a window."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from gui.dialogs import prompts
from gui.main_window import MainWindow
from tests.support.gui_helpers import make_colour_model, make_folder
from tests.support.reference_crf import HAVE_PYDENSECRF, SKIP_REASON


def open_window(tmp_path, backend: str = "reference") -> MainWindow:
    """A shown window with its own settings file; the reference CRF (pydensecrf) is the exact yardstick (the test
    is skipped where that optional package is missing)."""
    if backend == "reference" and not HAVE_PYDENSECRF:
        pytest.skip(SKIP_REASON)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("crf/backend", backend)
    w = MainWindow(settings)  # closed by close_window, not by qtbot: closing may ask about unsaved work
    w.resize(1100, 700)
    w.show()
    return w


def close_window(w: MainWindow, monkeypatch) -> None:
    """Close without the unsaved-work prompt blocking the test."""
    monkeypatch.setattr(prompts, "ask_unsaved", lambda *a: prompts.DISCARD)
    w.close()
    w.deleteLater()


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    w = open_window(tmp_path)
    yield w
    close_window(w, monkeypatch)


@pytest.fixture
def fast_window(qtbot, tmp_path, monkeypatch):
    """A window on the fast CRF engine (the app's own; no pydensecrf needed)."""
    w = open_window(tmp_path, backend="fast")
    yield w
    close_window(w, monkeypatch)


@pytest.fixture
def env(tmp_path):
    """A folder of 3 synthetic images and a tiny colour-classifying model."""
    return make_folder(tmp_path / "images", n=3), make_colour_model(tmp_path / "colour.pt")


def wait_ready(qtbot, w, timeout=20000):
    """Until the current image has a CRF result for the parameters the panel shows, nothing runs (and the status
    bar has settled: it does so one event-loop turn after the lanes, MainWindow._on_busy)."""
    def ready():
        st = w.ctl.state
        return bool(st is not None and st.crf_labels is not None and st.crf_params == w.crf_panel.params()
                    and not w.ctl.busy and not w.status.cancel.isVisibleTo(w))
    qtbot.waitUntil(ready, timeout=timeout)
    return w.ctl.state


def wait_image(qtbot, w, index):
    qtbot.waitUntil(lambda: w.ctl.state is not None and w.ctl.state.index == index, timeout=10000)
    return w.ctl.state

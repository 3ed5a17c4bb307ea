"""Start-up: a splash with progress within a fraction of a second while PyTorch and the window's modules load (they
take 3-20 s on a cold disk), and timestamps of the start-up milestones for bench/startup.py.

Only PySide6 is imported before the splash shows; torch and the rest come after, one step at a time, with the
splash repainted between steps. The model itself then loads in a worker after the window is shown.

Tracing: with DLA_STARTUP_TRACE=<file> each milestone appends '<name> <unix time>' to that file: main,
qapplication, splash, window_shown, model_loaded, first_labels, quit_requested, quit_done. With DLA_STARTUP_QUIT=1 the window closes
itself once the first labels are shown, so a benchmark can time the quit too.
"""
from __future__ import annotations

import importlib
import os
import threading
import time

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPainter
from PySide6.QtWidgets import QApplication, QWidget

TRACE_ENV, QUIT_ENV = "DLA_STARTUP_TRACE", "DLA_STARTUP_QUIT"
_seen: set[str] = set()


def mark(name: str) -> None:
    """Record milestone ``name`` (once) if tracing is on."""
    path = os.environ.get(TRACE_ENV)
    if not path or name in _seen:
        return
    _seen.add(name)
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{name} {time.time():.6f}\n")


def read_trace(path) -> dict[str, float]:
    """{milestone: unix time} from a trace file (bench/startup.py)."""
    out: dict[str, float] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            name, _, t = line.strip().partition(" ")
            if name and t:
                out.setdefault(name, float(t))
    return out


class Splash(QWidget):
    """The app's name, what is loading and a progress bar. A plain frameless widget, not QSplashScreen: that one
    waits up to a second for the window system to expose it (measured: 1.0 s offscreen and on Xvfb), which is
    half the start-up budget."""
    W, H = 460, 170

    def __init__(self, version: str = ""):
        super().__init__(None, Qt.WindowType.SplashScreen | Qt.WindowType.FramelessWindowHint
                         | Qt.WindowType.WindowStaysOnTopHint)
        self.setFixedSize(self.W, self.H)
        self.version = version
        self.fraction, self.text = 0.0, ""
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            self.move(screen.availableGeometry().center() - self.rect().center())

    def step(self, text: str, fraction: float) -> None:
        """Show what loads now and how far start-up has come (0..1), and repaint at once."""
        self.text, self.fraction = text, min(max(fraction, 0.0), 1.0)
        self.repaint()
        QApplication.processEvents()

    def finish(self, window) -> None:
        self.close()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(38, 42, 52))
        font = QFont(self.font())
        font.setPointSize(18)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor(235, 235, 235))
        painter.drawText(QRect(24, 24, self.W - 48, 40), Qt.AlignmentFlag.AlignLeft, "DeepLab Annotator")
        font.setPointSize(9)
        font.setBold(False)
        painter.setFont(font)
        painter.setPen(QColor(170, 175, 190))
        painter.drawText(QRect(24, 62, self.W - 48, 20), Qt.AlignmentFlag.AlignLeft,
                         f"semantic-segmentation labelling {self.version}".strip())
        bar = QRect(24, self.H - 58, self.W - 48, 8)
        painter.fillRect(bar, QColor(70, 76, 92))
        painter.fillRect(QRect(bar.left(), bar.top(), int(bar.width() * self.fraction), bar.height()),
                         QColor(80, 160, 255))
        painter.setPen(QColor(220, 220, 220))
        painter.drawText(QRect(24, self.H - 42, self.W - 48, 24), Qt.AlignmentFlag.AlignLeft, self.text)
        painter.end()


def import_with_progress(splash: "Splash", steps, start: float = 0.05, end: float = 0.9) -> None:
    """Import each (text, module) of ``steps`` in a worker thread while this (GUI) thread keeps the splash alive:
    its bar creeps forward and the seconds count, so a 10 s PyTorch import on a cold disk still looks alive.
    An import error is raised here. Importing in a thread is safe: no widget is created by these imports."""
    failure: list[BaseException] = []
    done = [0]

    def load() -> None:
        try:
            for _, module in steps:
                importlib.import_module(module)
                mark(f"imported:{module}")
                done[0] += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread
            failure.append(exc)
    worker = threading.Thread(target=load, name="startup-imports", daemon=True)
    t0 = time.monotonic()
    worker.start()
    share = (end - start) / max(len(steps), 1)
    while worker.is_alive():
        i = min(done[0], len(steps) - 1)
        elapsed = time.monotonic() - t0
        creep = 1.0 - 1.0 / (1.0 + elapsed / 4.0)     # approaches the end of this step's share, never reaches it
        splash.step(f"{steps[i][0]}  {elapsed:.0f} s", start + share * (i + creep))
        worker.join(0.05)
    if failure:
        raise failure[0]


def watch(window) -> None:
    """Mark model_loaded and first_labels as they happen; with DLA_STARTUP_QUIT=1 close once labels show."""
    if not os.environ.get(TRACE_ENV):
        return
    ctl = window.ctl

    def on_model() -> None:
        if ctl.loader.loaded is not None:
            mark("model_loaded")

    def on_results() -> None:
        st = ctl.state
        if st is not None and st.labels is not None and "first_labels" not in _seen:
            mark("first_labels")
            if os.environ.get(QUIT_ENV) == "1":
                mark("quit_requested")
                window.close()
    ctl.model_changed.connect(on_model)
    ctl.results_changed.connect(on_results)

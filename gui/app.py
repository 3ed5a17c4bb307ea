"""GUI entry: `main(folder, model)` opens a folder (default: the bundled samples) with a model
(default: the demo model, the model recorded in the folder's labels/project.json, or the last one used
for a user folder). A missing model is not fatal:
the window opens, says so in the status bar, and the user loads one from the Model menu.

Start-up order (gui.boot.splash): check Qt's system libraries, show a splash, import PyTorch and the window's
modules under it, show the window, then load the model in the background."""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from engine.errors import EngineError
from engine.limits import set_max_pixels
from engine.paths import APP_ID, DEMO_V1, SAMPLES_DIR
from gui.boot import qt_libs
from gui.boot import splash as startup
from gui.boot.icon import app_icon

if TYPE_CHECKING:
    from gui.window.preferences import Preferences

ORG, APP = "DeepLabAnnotator", "DeepLab Annotator"


def choose_model(folder: Path | None, model: Path | None, prefs: Preferences) -> Path | None:
    """Explicit model > the folder's recorded model (the bundled samples' too: a model chosen there with *Use the
    folder's settings* loads directly on the next start) > for a user folder the last model used > the demo."""
    if model is not None:
        return Path(model)
    where = Path(folder) if folder is not None else SAMPLES_DIR
    recorded = folder_model(where.parent if where.is_file() else where)
    if recorded is not None:
        return recorded
    if folder is not None:
        last = prefs.last_model
        if last and Path(last).is_file():
            return Path(last)
    return DEMO_V1 if DEMO_V1.is_file() else None


def folder_model(folder: Path) -> Path | None:
    """The model file a folder's labels/project.json records, if it is on this computer."""
    from engine.folder.dataset import LABELS_DIRNAME
    from engine.project import FolderProject

    saved = FolderProject.open(folder / LABELS_DIRNAME).project.model if folder.is_dir() else None
    path = saved.resolve(folder / LABELS_DIRNAME) if saved is not None else None
    return path if path is not None and path.is_file() else None


def start(window, folder: Path | None, model: Path | None) -> None:
    """Load the model (in the background) and open the folder in ``window``."""
    chosen = choose_model(folder, model, window.prefs)
    if chosen is None:
        window.show_error(f"No demo model at {DEMO_V1}; load one with Model > Load checkpoint… (Ctrl+L)")
    elif not chosen.is_file():
        window.show_error(f"Model file not found: {chosen}; load one with Model > Load checkpoint… (Ctrl+L)")
    else:
        window.load_model(chosen)
    target = Path(folder) if folder is not None else SAMPLES_DIR
    select = None
    if target.is_file():  # an image path: open its folder at that image
        target, select = target.parent, target
    if not target.is_dir():
        window.show_error(f"Folder not found: {target}; use File > Open Folder… (Ctrl+O)")
        return
    window.open_folder(target, select)


QUESTION_WAIT_S = 20.0   # --screenshot: how long a question may stay open before the smoke test reports it
_active_modal = QApplication.activeModalWidget


def screenshot_when_ready(window, path: Path, timeout_s: float = 300.0) -> dict:
    """Smoke test of an installation: once the first image is predicted and refined (or after timeout_s),
    save a picture of the window to ``path`` and quit, with status 0 only if it got there without an error. A
    question left open QUESTION_WAIT_S (the folder's classes differ from the model's, another window holds the
    folder) ends it too, pictured and named, with status 1: nobody is there to answer it. Call it before the
    folder opens: a question asked while it opens runs its own event loop, in which the polling goes on.
    Returns a dict that gets the exit status ("code") when the picture is taken."""
    started = time.monotonic()
    asked_since = []
    outcome: dict = {}

    def poll():
        st = window.ctl.state
        ready = st is not None and st.crf_labels is not None and not window.ctl.busy
        asking = _active_modal()   # a question (the folder's classes, another window's lock) nobody will answer
        if asking is None:
            asked_since.clear()
        elif not asked_since:
            asked_since.append(time.monotonic())
        unanswered = asking is not None and time.monotonic() - asked_since[0] >= QUESTION_WAIT_S
        if not ready and not window.last_error and not unanswered and time.monotonic() - started < timeout_s:
            QTimer.singleShot(200, poll)
            return
        asking = asking if unanswered else None
        (asking or window).grab().save(str(path))
        ok = ready and not window.last_error and asking is None
        why = f"; it asks: {asking.windowTitle() or 'a question'} (open the folder in the window to answer)" \
            if asking is not None else ""
        print(f"screenshot {path}: {'ready' if ok else 'NOT ready'} after {time.monotonic() - started:.1f} s"
              f"{'; ' + window.last_error if window.last_error else ''}{why}", flush=True)
        outcome["code"] = 0 if ok else 1
        QApplication.instance().exit(outcome["code"])
        if asking is not None:
            asking.reject() if hasattr(asking, "reject") else asking.close()   # its own loop ends, then ours
    QTimer.singleShot(200, poll)
    return outcome


def main(folder: Path | None = None, model: Path | None = None, read_only: bool = False,
         max_pixels: str | None = None, screenshot: Path | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    startup.mark("main")
    if qt_libs.check(quiet=True, fast=True) == 1:   # Qt would abort with a hint that names the wrong library
        return 1
    if max_pixels is not None:
        try:
            set_max_pixels(max_pixels)
        except EngineError as exc:
            print(f"error: --max-pixels: {exc}", file=sys.stderr)
            return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    startup.mark("qapplication")
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    app.setWindowIcon(app_icon())
    app.setDesktopFileName(APP_ID)   # Wayland: match the window to deeplab-annotator.desktop and its icon
    splash = startup.Splash()
    splash.show()
    splash.step("Loading PyTorch…", 0.05)
    startup.mark("splash")
    # the slow imports (seconds on a cold disk) run in a thread while the splash stays alive
    startup.import_with_progress(splash, [("Loading PyTorch…", "torch"), ("Loading the CRF engine…", "engine.crf.fast"),
                                          ("Loading the window…", "gui.main_window")])
    from gui.main_window import MainWindow

    splash.step("Opening the window…", 0.9)
    window = MainWindow(QSettings(ORG, APP))
    startup.mark("window_built")
    window.ctl.wait_on_shutdown = False   # the process exits right after the window closes (below)
    startup.watch(window)
    window.ctl.guard.force_read_only = read_only
    window.show()
    splash.finish(window)
    app.processEvents()   # painted, not just mapped
    startup.mark("window_shown")
    shot = screenshot_when_ready(window, screenshot) if screenshot is not None else None
    start(window, folder, model)
    # (a question asked while the folder opened may have ended the smoke test in its own loop: the main loop would
    # then never be told to stop)
    code = shot["code"] if shot is not None and "code" in shot else app.exec()
    if screenshot is not None:   # it quit without closing the window: give the folder back (its lock file)
        window.ctl.shutdown()
    window.settings.sync()
    startup.mark("quit_done")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the interpreter teardown (torch, numba and the worker pools took 3-5 s of a 4 s quit); everything is
    # written by now: labels and the journal synchronously on the GUI thread, the settings just above.
    os._exit(code)


def cli_main(argv: list[str]) -> int:
    """`deeplab-annotator [FOLDER] [--model CKPT] [--read-only] [--max-pixels N]`: parse the window's arguments
    (engine.cli.window_parser) and open the window."""
    from engine.cli import window_parser

    args = window_parser().parse_args(argv)
    return main(args.folder, args.model, read_only=args.read_only, max_pixels=args.max_pixels,
                screenshot=args.screenshot)

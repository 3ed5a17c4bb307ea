"""GUI entry: `main(folder, model)` opens a folder (default: the bundled samples) with a model
(default: the demo model, or the last one used for a user folder). A missing model is not fatal:
the window opens, says so in the status bar, and the user loads one from the Model menu."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from engine.paths import APP_ID, DEMO_V1, SAMPLES_DIR
from gui.icon import app_icon
from gui.main_window import MainWindow

ORG, APP = "DeepLabAnnotator", "DeepLab Annotator"


def choose_model(folder: Path | None, model: Path | None, settings: QSettings) -> Path | None:
    """Explicit model > (for a user folder) the last model used > the bundled demo model."""
    if model is not None:
        return Path(model)
    if folder is not None:
        last = settings.value("last_model", "")
        if last and Path(last).is_file():
            return Path(last)
    return DEMO_V1 if DEMO_V1.is_file() else None


def start(window: MainWindow, folder: Path | None, model: Path | None) -> None:
    """Load the model (in the background) and open the folder in ``window``."""
    chosen = choose_model(folder, model, window.settings)
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
    if window.open_folder(target) and select is not None:
        try:
            window.go_to(window.ctl.dataset.index_of(select))
        except KeyError:
            pass


def screenshot_when_ready(window: MainWindow, path: Path, timeout_s: float = 300.0) -> None:
    """Smoke test of an installation: once the first image is predicted and refined (or after timeout_s),
    save a picture of the window to ``path`` and quit, with status 0 only if it got there without an error."""
    started = time.monotonic()

    def poll():
        st = window.ctl.state
        ready = st is not None and st.crf_labels is not None and not window.ctl.busy
        if not ready and not window.last_error and time.monotonic() - started < timeout_s:
            QTimer.singleShot(200, poll)
            return
        window.grab().save(str(path))
        ok = ready and not window.last_error
        print(f"screenshot {path}: {'ready' if ok else 'NOT ready'} after {time.monotonic() - started:.1f} s"
              f"{'; ' + window.last_error if window.last_error else ''}", flush=True)
        QApplication.instance().exit(0 if ok else 1)
    QTimer.singleShot(200, poll)


def main(folder: Path | None = None, model: Path | None = None, screenshot: Path | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    app.setWindowIcon(app_icon())
    app.setDesktopFileName(APP_ID)   # Wayland: match the window to deeplab-annotator.desktop and its icon
    window = MainWindow(QSettings(ORG, APP))
    window.show()
    start(window, folder, model)
    if screenshot is not None:
        screenshot_when_ready(window, screenshot)
    return app.exec()


def cli_main(argv: list[str]) -> int:
    """`deeplab-annotator [FOLDER] [--model CKPT]`: parse the GUI's arguments and open the window."""
    from engine.cli import COMMANDS, program

    others = ", ".join(name for name in COMMANDS if name != "gui")
    parser = argparse.ArgumentParser(prog=program(), description="DeepLab Annotator",
                                     epilog=f"subcommands: {others} (`{program()} SUBCOMMAND --help`)")
    parser.add_argument("folder", nargs="?", type=Path, help="folder of images (default: bundled samples)")
    parser.add_argument("--model", type=Path, help="checkpoint to load (default: bundled demo model)")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="smoke test: when the first image is predicted and refined, save the window as PNG "
                             "and quit (0 = it worked); runs headless with QT_QPA_PLATFORM=offscreen")
    args = parser.parse_args(argv)
    return main(args.folder, args.model, args.screenshot)

"""Regenerate the README screenshots: drives the real window under an X server and captures the screen with
ImageMagick's `import -window root` (so menus, dialogs and the cursor readout are what a user sees).

  Xvfb :93 -screen 0 1400x900x24 &   DISPLAY=:93 .venv/bin/python docs/screenshots/take.py

Needs xvfb, xdotool and imagemagick (apt-get install -y xvfb xdotool imagemagick). Settings go to a temporary
folder, so the user's own are untouched. Each PNG is quantised to 256 colours to stay small.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="dla-shots-"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QPointF, QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication, QToolTip  # noqa: E402

from engine.paths import SAMPLES_DIR  # noqa: E402


def pump(seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def until(cond, timeout: float = 60.0) -> None:
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            raise SystemExit("timed out waiting for the window")
        QApplication.processEvents()
        time.sleep(0.01)


def shot(name: str, widget) -> None:
    """Capture the X screen, crop to ``widget``'s frame, save a 256-colour PNG."""
    pump(0.4)
    raw = OUT / f".{name}.raw.png"
    subprocess.run(["import", "-window", "root", str(raw)], check=True)
    g = widget.frameGeometry()
    img = Image.open(raw).convert("RGB").crop((g.x(), g.y(), g.x() + g.width(), g.y() + g.height()))
    raw.unlink()
    # 256 colours (octree, no dither) keep a UI screenshot faithful at a third of the size
    img.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(OUT / f"{name}.png",
                                                                                      optimize=True)
    print(f"{name}.png {(OUT / f'{name}.png').stat().st_size // 1024} KB", flush=True)


def move_mouse(window, x: float, y: float) -> None:
    """Put the real X pointer over image pixel (x, y) (xdotool), so the readout comes from a real mouse move."""
    p = window.canvas.viewport().mapToGlobal(window.canvas.mapFromScene(QPointF(x, y)))
    subprocess.run(["xdotool", "mousemove", str(p.x()), str(p.y())], check=True)
    pump(0.3)


def main() -> int:
    if not os.environ.get("DISPLAY") or not shutil.which("import"):
        raise SystemExit("needs an X server (DISPLAY) and ImageMagick's import")
    app = QApplication(sys.argv[:1])
    from gui.boot import splash as startup
    splash = startup.Splash("0.1.0")
    splash.show()
    splash.step("Loading PyTorch…  3 s", 0.35)
    shot("splash", splash)
    from gui.app import start
    from gui.main_window import MainWindow
    splash.close()

    work = Path(tempfile.mkdtemp(prefix="dla-shots-folder-"))
    for p in sorted(SAMPLES_DIR.glob("*.png"))[:6]:
        shutil.copy(p, work / p.name)
    (work / "belt_07.png").write_bytes((SAMPLES_DIR / "belt_07.png").read_bytes()[:2000])   # truncated
    (work / "scan_notes.jpg").write_text("not an image")   # a text file named .jpg
    settings = QSettings(str(Path(os.environ["XDG_CONFIG_HOME"]) / "shots.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings)
    w.resize(1320, 840)
    w.move(0, 0)
    w.show()
    start(w, work, None)
    ready = lambda: w.ctl.state is not None and w.ctl.state.crf_labels is not None and not w.ctl.busy  # noqa
    until(ready)
    pump(1.5)                                   # prefetch marks the unreadable files
    for bad in ("belt_07.png", "scan_notes.jpg"):
        w.go_to(w.ctl.dataset.index_of(work / bad))
        until(lambda: w.file_list.status_text(w.ctl.dataset.index_of(work / bad)) == "error", 20)
    w.go_to(w.ctl.dataset.index_of(work / "belt_02.png"))
    until(ready)
    st = w.ctl.state
    for c in range(5):
        n, comp, stats, cent = cv2.connectedComponentsWithStats((st.labels == c).astype(np.uint8))
        print(c, [(int(stats[i, 4]), tuple(int(v) for v in cent[i])) for i in range(1, n)])
    ys, xs = np.nonzero(st.labels == 2)
    move_mouse(w, float(xs.mean()), float(ys.mean()))
    shot("main", w)

    w.toolbar.before.setChecked(True)           # the raw network output: its uncertainty is wider than the CRF's
    w.toolbar.uncertainty.setChecked(True)
    move_mouse(w, float(xs.min()) + 1, float(ys.mean()))
    shot("uncertainty", w)
    w.toolbar.uncertainty.setChecked(False)
    w.toolbar.before.setChecked(False)

    w.editing.set_tool("superpixel")
    tool = w.canvas.tool
    tool.size_box.setValue(16)
    until(lambda: tool.ready, 30)
    w.ctl.editor.set_paint_class(1)
    ys, xs = np.nonzero(st.labels == 0)
    vp = w.canvas.viewport()
    for i in (len(xs) // 3, len(xs) // 2):
        p = vp.mapToGlobal(w.canvas.mapFromScene(QPointF(float(xs[i]), float(ys[i]))))
        subprocess.run(["xdotool", "mousemove", str(p.x()), str(p.y()), "click", "1"], check=True)
        pump(0.3)
    shot("superpixel", w)
    w.editing.set_tool("pan")
    w.ctl.editor.stack().undo()
    w.ctl.editor.stack().undo()

    w.images_panel.filter.setText("error")
    fl = w.file_list
    item = fl.item_for(w.ctl.dataset.index_of(work / "scan_notes.jpg"))
    rect = fl.visualItemRect(item)
    QToolTip.showText(fl.viewport().mapToGlobal(rect.center()), item.toolTip(1), fl.viewport())
    shot("filter_and_errors", w)
    QToolTip.hideText()
    w.images_panel.filter.setText("")

    w.help_menu.show_shortcuts()
    dialog = w.help_menu.dialog
    dialog.move(w.x() + 300, w.y() + 120)
    pump(0.3)
    shot("shortcuts", dialog)
    dialog.close()

    w.layout_state.set_theme("dark")
    w.toolbar.uncertainty.setChecked(True)
    shot("dark", w)
    w.layout_state.set_theme("system")
    w.toolbar.uncertainty.setChecked(False)
    from gui.dialogs import prompts
    prompts.ask_unsaved = lambda *a: prompts.DISCARD
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

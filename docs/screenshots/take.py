"""Regenerate the README screenshots: drives the real window under an X server and captures the screen with
ImageMagick's `import -window root` (so menus, dialogs and the cursor readout are what a user sees).

  xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/take.py

Needs xvfb, xdotool and imagemagick (apt-get install -y xvfb xdotool imagemagick; Qt's xcb plugin also wants
libxcb-cursor0). Settings go to a temporary folder, so the user's own are untouched. Each PNG is quantised to 256
colours to stay small.

The corrections it paints on belt_02.png are real ones: pieces of bottle the demo model calls belt, found with the
samples' ground truth (resources/samples_gt). Two superpixel clicks (superpixel.png, then undone), then two brush
strokes with Edit > Adapt the model to corrections on, so main.png and the shots after it show the status-bar note
"model adapted on 2 strokes / 1 image". main.png is taken at 1600 px wide, legends.png at 1280x720 (the readout
must show both classes and the uncertainty uncut there, the legend every marking overlay), new_class.png after
adding a class (its colour is the one farthest from every colour shown), own_class.png in a folder with classes the
model never knew: one stroke of "cardboard" spreads to the whole panel.
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

from engine.demo.samples import SAMPLES_GT_DIR  # noqa: E402
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


def check_readout(window) -> None:
    """The cursor readout must show two classes and the uncertainty, uncut."""
    label = window.readout.pixel
    if "%," not in label.text() or "unsure" not in label.text() or label.shown_text() != label.text():
        raise SystemExit(f"the readout is cut or incomplete at {window.width()} px: {label.shown_text()!r}")


def missed_pieces(gt: np.ndarray, labels: np.ndarray, cls: int, min_px: int = 40) -> list[np.ndarray]:
    """Masks of the connected pieces of class ``cls`` (ground truth) that ``labels`` misses, largest first."""
    n, comp, stats, _ = cv2.connectedComponentsWithStats(((gt == cls) & (labels != cls)).astype(np.uint8))
    order = sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    return [comp == i for i in order if stats[i, cv2.CC_STAT_AREA] >= min_px]


def stroke_points(piece: np.ndarray, radius: int, n: int = 6) -> list[tuple[float, float]]:
    """A brush path along a piece's long axis through its pixels ``radius`` or more from its edge (its innermost
    ones where it is narrower), so the brush stays (about) inside: those pixels at n quantiles along that axis."""
    dist = cv2.distanceTransform(piece.astype(np.uint8), cv2.DIST_L2, 5)
    ys, xs = np.nonzero(dist >= min(radius, dist.max()))
    pts = np.stack([xs, ys], 1).astype(float)
    centred = pts - pts.mean(0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    t = centred @ axis
    order = np.argsort(t)
    picks = order[(np.linspace(0.05, 0.95, n) * (len(order) - 1)).astype(int)]
    return [(float(pts[i, 0]) + 0.5, float(pts[i, 1]) + 0.5) for i in picks]


def inner_point(piece: np.ndarray) -> tuple[float, float]:
    """The centre of the piece's pixel nearest its centroid (the centroid itself may lie outside it)."""
    ys, xs = np.nonzero(piece)
    i = int(np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2))
    return float(xs[i]) + 0.5, float(ys[i]) + 0.5


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
    w.resize(1600, 960)
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
    w.last_error = ""                           # (the unreadable files' messages)
    ed = w.ctl.editor
    ed.set_paint_class(2)
    # where the model calls bottle belt (the ground truth ships with the samples): the corrections below
    gt = np.array(Image.open(SAMPLES_GT_DIR / "belt_02.png"))
    misses = missed_pieces(gt, w.ctl.state.labels, 2)
    if len(misses) < 4:
        raise SystemExit(f"belt_02.png: expected the demo model to miss four pieces of bottle, found {len(misses)}")

    # superpixel fill (no learning from it): two clicks on two of the missed pieces, then undone
    w.editing.set_tool("superpixel")
    tool = w.canvas.tool
    tool.size_box.setValue(16)
    until(lambda: tool.ready and not w.ctl.busy, 60)
    vp = w.canvas.viewport()
    for piece in misses[2:4]:
        x, y = inner_point(piece)
        p = vp.mapToGlobal(w.canvas.mapFromScene(QPointF(x, y)))
        subprocess.run(["xdotool", "mousemove", str(p.x()), str(p.y()), "click", "1"], check=True)
        pump(0.3)
        until(lambda: not w.ctl.busy, 60)
    shot("superpixel", w)
    w.editing.set_tool("pan")
    w.ctl.editor.stack().undo()
    w.ctl.editor.stack().undo()
    until(lambda: not w.ctl.busy, 60)

    # corrections that teach (Edit > Adapt the model to corrections, on by default): two brush strokes along the
    # two largest missed pieces; the status bar then says "model adapted on 2 strokes / 1 image"
    if not (w.learn.adapt_action.isChecked() and w.editing.auto_refine.isChecked()):
        raise SystemExit("adaptation or auto-refine is off")
    ed.set_radius(4)
    for n, piece in enumerate(misses[:2], 1):
        pts = stroke_points(piece, ed.radius)
        ed.begin_stroke(pts[0])
        for pt in pts[1:]:
            ed.stroke_to(pt)
        ed.end_stroke()
        adapted = f"model adapted on {n} stroke{'s' * (n > 1)} / 1 image"
        until(lambda: w.learn.status_label.text() == adapted and not w.ctl.busy, 120)
        pump(0.5)
        until(lambda: not w.ctl.busy, 60)      # the CRF that follows the adapted head
    if w.last_error:
        raise SystemExit(f"the window reported an error: {w.last_error}")
    move_mouse(w, *inner_point(misses[0]))      # the readout on a corrected piece
    check_readout(w)
    shot("main", w)

    st = w.ctl.state
    ys, xs = np.nonzero(st.labels == 2)
    w.toolbar.before.setChecked(True)           # the raw network output: its uncertainty is wider than the CRF's
    w.toolbar.uncertainty.setChecked(True)
    move_mouse(w, float(xs.min()) + 1, float(ys.mean()))
    shot("uncertainty", w)
    w.toolbar.uncertainty.setChecked(False)
    w.toolbar.before.setChecked(False)

    w.resize(1280, 720)                         # a small screen: the readout and the legends still fit
    w.toolbar.changed.setChecked(True)
    pump(0.5)
    edge = np.argwhere(st.changed_by_crf())
    move_mouse(w, float(edge[len(edge) // 2][1]) + 0.5, float(edge[len(edge) // 2][0]) + 0.5)
    check_readout(w)
    if set(w.overlay_legend.texts()) != {"changed", "locks"}:
        raise SystemExit(f"legend rows: {w.overlay_legend.texts()}")
    shot("legends", w)
    w.toolbar.changed.setChecked(False)
    w.resize(1600, 960)
    pump(0.5)

    from gui.dialogs import classes as class_dialogs
    class_dialogs.ask_class_name = lambda *a: "label tape"
    if not w.class_editor.add():
        raise SystemExit("could not add a class")
    until(lambda: not w.ctl.busy, 60)
    shot("new_class", w)

    w.images_panel.filter.setText("error")
    fl = w.file_list
    item = fl.item_for(w.ctl.dataset.index_of(work / "scan_notes.jpg"))
    pump(0.3)                                   # the list re-lays out after the filter
    rect = fl.visualItemRect(item)
    for _ in range(10):                         # a tooltip shown during a re-layout can close at once
        QToolTip.showText(fl.viewport().mapToGlobal(rect.center()), item.toolTip(1), fl.viewport())
        pump(0.3)
        if QToolTip.isVisible():
            break
    else:
        raise SystemExit("the tooltip did not stay up")
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
    own_class_shot(w, ready)
    w.close()
    return 0


def own_class_shot(w, ready) -> None:
    """own_class.png: a folder with two classes the demo model never saw (engine/demo/own_classes.py), added in the
    Classes panel; one stroke of "cardboard" across a panel spreads to the panel, and the panel says the class was
    learnt here."""
    from engine.demo import own_classes
    site = Path(tempfile.mkdtemp(prefix="dla-shots-own-"))
    scenes = []
    for i in range(40):
        sc = own_classes.make_scene(i, (360, 480))
        if (sc.labels == own_classes.CARDBOARD).sum() > 8000:
            scenes.append(sc)
            cv2.imwrite(str(site / f"site_{len(scenes):02d}.png"), cv2.cvtColor(sc.image, cv2.COLOR_RGB2BGR))
        if len(scenes) == 2:
            break
    w.open_folder(site)
    until(ready, 120)
    classes = w.ctl.classes.project.classes.add("cardboard").add("glass")
    if not w.ctl.classes.edit_classes(classes):
        raise SystemExit("could not add the classes")
    until(ready, 120)
    region = scenes[0].labels == own_classes.CARDBOARD
    ys, xs = np.nonzero(region)
    row = int(np.median(ys))
    cols = np.nonzero(region[row])[0]
    ed = w.ctl.editor
    ed.set_paint_class(own_classes.CARDBOARD)
    ed.set_radius(5)
    mid, span = int(cols[len(cols) // 2]), max(4, len(cols) // 4)
    ed.begin_stroke((mid - span, row))
    ed.stroke_to((mid + span, row))
    ed.end_stroke()
    until(lambda: w.learn.status_label.text() == "model adapted on 1 stroke / 1 image" and not w.ctl.busy, 120)
    pump(0.5)
    until(lambda: not w.ctl.busy, 60)
    if w.class_panel.origin(own_classes.CARDBOARD) != "learnt (1)":
        raise SystemExit(f"the Classes panel says {w.class_panel.origin(own_classes.CARDBOARD)!r}")
    spread = region & (w.ctl.state.labels == own_classes.CARDBOARD) & ~w.ctl.state.locked
    if spread.sum() < 0.3 * region.sum():
        raise SystemExit(f"the stroke spread to {spread.sum()} of {region.sum()} cardboard pixels")
    ys, xs = np.nonzero(spread)
    move_mouse(w, float(xs[len(xs) // 2]), float(ys[len(ys) // 2]))   # the readout on a pixel it spread to
    pump(0.5)
    shot("own_class", w)


if __name__ == "__main__":
    sys.exit(main())

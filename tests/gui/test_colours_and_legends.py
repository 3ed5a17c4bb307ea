"""Colours that never collide and a legend for every overlay (issue 26, item 8), in the real window: the
"changed by CRF" colour and a new class's colour lie far (CIEDE2000) from every colour already shown, and each
marking overlay on screen has a legend row whose swatch is the overlay's own colour."""
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from engine.checkpoints import load_checkpoint
from engine.labels import FIXED_OVERLAY_COLOURS, changed_colour, distinct_colour, voc_palette
from engine.paths import DEMO_V1
from gui.app import start
from gui.dialogs import classes as class_dialogs
from tests.support.gui_fixtures import env, wait_ready, window  # noqa: F401 (fixtures)
from tests.support.gui_helpers import brush_stroke


def nearest(colour, taken) -> float:
    """Smallest CIEDE2000 distance from ``colour`` to any of ``taken``."""
    a = rgb2lab(np.asarray([colour], float)[None] / 255.0)
    b = rgb2lab(np.asarray(taken, float)[None] / 255.0)
    return float(deltaE_ciede2000(a[:, :, None, :], b[:, None, :, :]).min())


def test_the_demo_classes_get_a_changed_colour_and_a_new_class_colour_unlike_any_shown():
    demo = [tuple(c) for c in load_checkpoint(DEMO_V1).spec.class_list().palette]   # paper is yellow, bag pink
    shown = demo + list(FIXED_OVERLAY_COLOURS)
    changed = changed_colour(demo)
    assert nearest(changed, shown) > nearest((255, 255, 0), shown) + 10         # the old yellow was paper's
    new = distinct_colour(shown + [changed])
    voc = [tuple(int(v) for v in c) for c in voc_palette(40)[1:]]
    assert nearest(new, shown + [changed]) >= max(nearest(c, shown + [changed]) for c in voc)   # beats every VOC
    assert nearest(new, [(230, 60, 160)]) > nearest((128, 0, 128), [(230, 60, 160)])       # purple sat by the pink


def test_an_added_class_takes_a_colour_far_from_every_class_and_overlay(qtbot, window, env, monkeypatch):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    monkeypatch.setattr(class_dialogs, "ask_class_name", lambda *a: "scratch")
    before = [tuple(c) for c in window.ctl.classes.class_list.palette]
    changed = window.presenter.changed_colour
    assert window.class_editor.add()
    new = tuple(window.ctl.classes.class_list.palette[-1])
    shown = before + list(FIXED_OVERLAY_COLOURS) + [changed]
    assert new not in shown and nearest(new, shown) > 20
    assert window.presenter.changed_colour != new and nearest(window.presenter.changed_colour, [new]) > 10


def test_every_marking_overlay_on_screen_has_a_legend_row_in_its_own_colour(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    wait_ready(qtbot, window)
    legend = window.overlay_legend
    assert not legend.isVisible()                                   # nothing marked yet: no legend
    window.toolbar.changed.setChecked(True)
    assert legend.isVisible() and legend.texts()["changed"] == "Changed by CRF"
    swatch = legend.rows["changed"][0].pixmap().toImage().pixelColor(2, 2)
    c = window.presenter.changed_colour
    overlay = window.canvas.overlay("changed").pixmap().toImage()
    st = window.ctl.state
    ys, xs = np.nonzero(st.changed_by_crf())
    assert len(ys)                                                  # the CRF moved some boundary pixels
    px = overlay.pixelColor(int(xs[0]), int(ys[0]))                 # the canvas paints them in that colour
    assert (px.red(), px.green(), px.blue()) == c
    assert abs(swatch.red() - c[0]) < 40 and abs(swatch.green() - c[1]) < 40 and abs(swatch.blue() - c[2]) < 40

    brush_stroke(window, (20, 20), (50, 30), class_id=1)
    qtbot.waitUntil(lambda: "locks" in legend.texts(), timeout=5000)
    text = legend.rows["locks"][1]                                  # the box grew to hold both rows
    assert legend.width() > text.sizeHint().width() and legend.height() > 2 * text.sizeHint().height()
    assert window.canvas.viewport().geometry().contains(legend.geometry())
    before = window.canvas.viewport().geometry()
    window.resize(window.width() + 300, window.height() + 100)     # it stays in the corner of a larger canvas

    def in_corner():
        vp = window.canvas.viewport().geometry()
        return (vp.width() > before.width() + 200 and 0 <= vp.right() - legend.geometry().right() < 20
                and 0 <= vp.bottom() - legend.geometry().bottom() < 20)
    qtbot.waitUntil(in_corner, timeout=3000)
    window.class_panel.class_selected.emit(2)                       # the heat map of "green thing"
    assert legend.texts()["heat"] == "p(green thing) after CRF 0 → 1"   # what it shows: the CRF's result
    window.toolbar.before.setChecked(True)                          # Before CRF: the network's, and it says so
    assert legend.texts()["heat"] == "p(green thing) network 0 → 1"
    window.toolbar.before.setChecked(False)
    window.toolbar.changed.setChecked(False)
    window.toolbar.locks.setChecked(False)
    window.class_panel.class_selected.emit(-1)
    assert "changed" not in legend.texts() and not legend.isVisible()

"""Folders of the built-in own-class scenes (engine.demo.own_classes: cardboard, glass) opened in the window, and
strokes across a class: shared by the GUI tests of classes the model lacks and of undo on saved images."""
import cv2
import numpy as np

from engine.demo import own_classes
from engine.demo.annotator import Stroke
from engine.paths import DEMO_V1
from gui.app import start
from tests.support.gui_fixtures import wait_ready
from tests.support.gui_helpers import brush_stroke

SIZE = (120, 160)
CARDBOARD = own_classes.CARDBOARD


def cardboard_scenes(n: int):
    out = []
    for i in range(300):
        sc = own_classes.make_scene(i, SIZE)
        if (sc.labels == CARDBOARD).sum() >= 900:
            out.append(sc)
            if len(out) == n:
                return out
    raise AssertionError("not enough scenes")


def write_site(folder, scenes):
    folder.mkdir(parents=True, exist_ok=True)
    for i, sc in enumerate(scenes):
        cv2.imwrite(str(folder / f"img{i + 1}.png"), cv2.cvtColor(sc.image, cv2.COLOR_RGB2BGR))
    return folder


def stroke_across(labels, cls, radius=3) -> Stroke:
    """A horizontal stroke through the middle row of class ``cls``'s largest run."""
    ys, xs = np.nonzero(labels == cls)
    row = int(np.median(ys))
    cols = np.nonzero(labels[row] == cls)[0]
    mid = cols[len(cols) // 2]
    span = max(2, min(12, len(cols) // 3))
    return Stroke(((int(mid - span), row), (int(mid + span), row)), radius, cls)


def paint(w, stroke):
    brush_stroke(w, stroke.points[0], stroke.points[-1], stroke.class_id, stroke.radius)


def site_with_cardboard(qtbot, w, tmp_path, n: int):
    """A folder of ``n`` cardboard scenes opened with the demo model and "cardboard" added; returns the scenes and
    the folder."""
    scenes = cardboard_scenes(n)
    folder = write_site(tmp_path / "site", scenes)
    w.editing.auto_refine.setChecked(True)
    start(w, folder, DEMO_V1)
    wait_ready(qtbot, w)
    add_classes(w, "cardboard")
    wait_ready(qtbot, w)
    return scenes, folder


def taught_cardboard(qtbot, w, tmp_path, n: int):
    """site_with_cardboard, and one stroke of cardboard painted on the first image."""
    scenes, folder = site_with_cardboard(qtbot, w, tmp_path, n)
    paint(w, stroke_across(scenes[0].labels, CARDBOARD))
    wait_ready(qtbot, w)
    return scenes, folder


def add_classes(w, *names):
    classes = w.ctl.classes.project.classes
    for n in names:
        classes = classes.add(n)
    assert w.ctl.classes.edit_classes(classes)

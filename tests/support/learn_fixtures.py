"""Fixtures for the learning tests: scenes from the shifted domain (engine/demo/shifted.py), on which the bundled
demo model is confidently wrong (a pale fabric belt it calls "plastic bag" with p ~ 0.9), written as a folder of
images, optionally with their ground truth saved as labels. Small (120x160) so each test takes seconds. A gate on
the head's fit, so a test can hold a learning step while it looks at the window, and the window opened on such a
folder with a stroke painted as the editor takes it."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine.demo import synth
from engine.demo.samples import demo_class_list
from engine.io.labels import write_class_names, write_label_png

SIZE = (120, 160)
SEED0 = 3_000_000   # outside the train/val/test ranges of the demo data


def shifted_scene(i: int, size=SIZE) -> synth.Scene:
    return synth.make_scene(SEED0 + i, size, "shifted")


def write_folder(folder: Path, n: int, saved: int = 0, size=SIZE, start: int = 0, labels=None) -> Path:
    """``n`` shifted scenes as img1.png.. ; the first ``saved`` get labels saved (their ground truth, or
    ``labels[i]``), with class_names.txt, as the app saves them."""
    folder.mkdir(parents=True, exist_ok=True)
    classes = demo_class_list()
    for i in range(n):
        scene = shifted_scene(start + i, size)
        cv2.imwrite(str(folder / f"img{i + 1}.png"), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
        if i < saved:
            lab = scene.labels if labels is None else labels[i]
            write_label_png(folder / "labels" / f"img{i + 1}.png", np.asarray(lab, np.uint8), classes)
    if saved:
        write_class_names(folder / "labels" / "class_names.txt", classes)
    return folder


def gate_learning(monkeypatch, gate, events: list) -> None:
    """Every head fit (ImageAdaptation.learn, a stroke's learning step) appends 'learn' to ``events`` when it starts
    and then waits for the threading.Event ``gate`` (its cancel flag still stops it), so a test can look at the
    window while a learning step is running."""
    from engine.errors import Cancelled
    from engine.learn.correction import ImageAdaptation
    real = ImageAdaptation.learn

    def learn(self, state, labels, locked, memory=None, should_cancel=None):
        events.append("learn")
        while not gate.wait(0.01):
            if should_cancel is not None and should_cancel():
                raise Cancelled("test")
        return real(self, state, labels, locked, memory, should_cancel=should_cancel)
    monkeypatch.setattr(ImageAdaptation, "learn", learn)


def opened(qtbot, w, folder, index=0):
    """The window ``w`` on ``folder`` with the demo model and auto-refine on, at image ``index``, once ready."""
    from engine.paths import DEMO_V1
    from gui.app import start
    from tests.support.gui_fixtures import wait_image, wait_ready

    w.editing.auto_refine.setChecked(True)
    start(w, folder, DEMO_V1)
    st = wait_ready(qtbot, w)
    if index:
        assert w.go_to(index)
        wait_image(qtbot, w, index)
        st = wait_ready(qtbot, w)
    return st


def paint_stroke(w, stroke):
    """A simulated annotator's stroke (engine.demo.annotator) through the window's editor."""
    ed = w.ctl.editor
    ed.set_paint_class(stroke.class_id)
    ed.set_radius(stroke.radius)
    ed.begin_stroke(stroke.points[0])
    for p in stroke.points[1:]:
        ed.stroke_to(p)
    ed.end_stroke()

"""Own-class scenes and a head taught on them with the demo model, shared by the tests of the head over the folder's
classes (tests/engine/learn/test_own_classes.py) and of the folder's head file (test_head_store.py)."""
from functools import lru_cache

import numpy as np

from engine.checkpoints import load_checkpoint
from engine.demo import own_classes
from engine.labels import ClassList
from engine.learn.adapt import HeadAdapter
from engine.learn.correction import ImageAdaptation
from engine.paths import DEMO_V1
from engine.predict import Predictor

SOURCE = (0, 1, 2, 3, 4, -1, -1)       # the demo model's five classes, then cardboard and glass
CLASSES = ClassList(own_classes.CLASS_NAMES, own_classes.PALETTE)
SIZE = (120, 160)


@lru_cache(maxsize=1)
def demo():
    loaded = load_checkpoint(DEMO_V1)
    return loaded, Predictor(loaded, device="cpu")


def scene_with(cls: int, min_px: int = 800, skip: int = 0):
    """The first own-class scene (120x160) with at least ``min_px`` pixels of ``cls``, after ``skip`` of them."""
    for i in range(200):
        sc = own_classes.make_scene(i, SIZE)
        if (sc.labels == cls).sum() >= min_px:
            if skip == 0:
                return sc
            skip -= 1
    raise AssertionError("no such scene")


def stroke_on(labels, cls, n=150):
    """Lock the first ``n`` pixels (raster order) of class ``cls``: a stroke across the top of its region."""
    locked = np.zeros(labels.shape, bool)
    ys, xs = np.nonzero(labels == cls)
    locked[ys[:n], xs[:n]] = True
    return locked


def cardboard_taught():
    """(loaded, predictor, adapter, head) after one cardboard stroke on a demo scene."""
    loaded, pred = demo()
    sc = scene_with(own_classes.CARDBOARD)
    adapter = HeadAdapter(pred, source=SOURCE)
    head, _ = ImageAdaptation(adapter, pred.extract_features(sc.image), "a").learn(
        adapter.original, sc.labels, stroke_on(sc.labels, own_classes.CARDBOARD))
    return loaded, pred, adapter, head


def taught_cardboard_head():
    """(loaded, adapter, features, head): cardboard_taught, with the scene's features."""
    loaded, pred, adapter, head = cardboard_taught()
    return loaded, adapter, pred.extract_features(scene_with(own_classes.CARDBOARD).image), head

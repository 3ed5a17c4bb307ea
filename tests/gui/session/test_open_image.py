"""OpenImage, the one owner of the open image: a CRF result is current only while the image, its probabilities,
the CRF settings and the backend are what its key (CrfKey) was made for, and an edit makes an exact result stale."""
from pathlib import Path

import numpy as np
from PySide6.QtGui import QUndoGroup

from engine.annotate.state import ImageState
from engine.crf import PRESETS
from engine.predict import Prediction
from gui.session.history import ImageHistory
from gui.session.keys import CrfKey
from gui.session.open_image import OpenImage


def _probs(seed=0, c=3, h=8, w=10):
    p = np.random.default_rng(seed).random((c, h, w)).astype(np.float32)
    return p / p.sum(0)


def _opened(image: OpenImage, index=0):
    state = ImageState(index=index, path=Path(f"img{index}.png"), image=np.zeros((8, 10, 3), np.uint8),
                       token=image.new_token())
    image.show(state)
    image.take_prediction(Prediction.from_probs(_probs()), keep_crf=False)
    return state


def test_a_key_is_current_only_for_what_is_shown(qapp):
    image = OpenImage(ImageHistory(QUndoGroup()))
    v1, v2 = PRESETS["deeplab-v1"], PRESETS["deeplab-v2"]
    _opened(image)
    key = image.crf_key("crf", v1, "fast")
    assert isinstance(key, CrfKey) and key.kind == "crf" and key.params == v1
    assert image.is_current(key, v1, "fast")
    assert not image.is_current(key, v2, "fast")                 # the slider moved on
    assert not image.is_current(key, v1, "reference")            # another backend
    image.take_prediction(Prediction.from_probs(_probs(1)), keep_crf=True)
    assert not image.is_current(key, v1, "fast") and not image.shows_probs_of(key)   # new probabilities
    key = image.crf_key("preview", v1, "fast")
    assert image.shows_probs_of(key)
    image.leave(keep_history=False)
    _opened(image, index=1)                                      # another image: a new token
    assert not image.is_current(key, v1, "fast") and not image.shows_probs_of(key)


def test_an_edit_makes_the_exact_result_stale_until_one_includes_it(qapp):
    image = OpenImage(ImageHistory(QUndoGroup()))
    _opened(image)
    image.mark_exact()
    assert image.exact_is_current
    key = image.crf_key("crf", PRESETS["deeplab-v1"], "fast")
    image.edited()
    assert not image.exact_is_current
    image.mark_exact(key.edit_serial)                            # a run that started before the edit
    assert not image.exact_is_current
    image.mark_exact()
    assert image.exact_is_current

"""Model > Train on saved labels… (issue 26, item 7): the new checkpoint goes to labels/.models/, never among the
images; the loss curve has axes, ticks and their labels; with too few saved images to hold any out the dialog
says why there is no mIoU."""
import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from engine.paths import DEMO_V1
from gui.app import start
from gui.dialogs.train import LossCurve, nice_ticks
from tests.support.gui_fixtures import close_window, open_window, wait_ready
from tests.support.learn_fixtures import write_folder


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    w = open_window(tmp_path, backend="fast")
    yield w
    close_window(w, monkeypatch)


def _ink(image, x0, y0, x1, y1) -> int:
    """Dark pixels in a box of a grabbed QImage (text and tick marks)."""
    arr = np.array([[image.pixelColor(x, y).lightness() for x in range(x0, x1)] for y in range(y0, y1)])
    return int((arr < 128).sum())


def test_the_checkpoint_goes_to_labels_models_and_no_miou_is_explained(qtbot, window, tmp_path, monkeypatch):
    folder = write_folder(tmp_path / "site", 3, saved=2)
    start(window, folder, DEMO_V1)
    wait_ready(qtbot, window)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    window.learn.train_action.trigger()
    dlg = window.learn.train_dialog
    out = folder / "labels" / ".models" / f"{DEMO_V1.stem}_finetuned.pt"
    assert dlg.out.text() == str(out)
    assert "No held-out mIoU" in dlg.info.text() and "fewer than 5" in dlg.info.text()
    dlg.epochs.setValue(1)
    dlg.batch.setValue(2)
    dlg.head.setChecked(True)
    dlg.start()
    assert not dlg.browse.isEnabled() and not dlg.out.isEnabled()   # (a walk: Browse… stayed enabled)
    qtbot.waitUntil(lambda: bool(asked), timeout=60000)
    assert out.is_file() and "No held-out mIoU" in dlg.status.text()
    assert not list(folder.glob("*.pt")) and window.file_list.topLevelItemCount() == 3
    assert "lost" not in dlg.status.text() and "no longer predicts" not in asked[-1][2]
    # a run that lost a class says so in the question and the status (a walk: nothing said so)
    from engine.learn.finetune import FinetuneResult
    lost = FinetuneResult(None, None, {"images": [1, 2], "held_out": []}, (), (), (("road", 0.51, 0.0),))
    dlg.lane.finished.emit(("train", str(out)), (lost, out))
    assert "no longer predicts road (IoU 0.51 -> 0.00)" in asked[-1][2] and "lost classes" in dlg.status.text()
    dlg.close()


def test_the_loss_curve_draws_axes_ticks_and_labels(qtbot):
    assert nice_ticks(2.3) == [0.0, 1.0, 2.0] and nice_ticks(0.7)[-1] == pytest.approx(0.6)
    assert nice_ticks(120) == [0, 50, 100]
    curve = LossCurve()
    qtbot.addWidget(curve)
    curve.resize(400, 200)
    empty = curve.grab().toImage()
    curve.set_data([2.1, 1.5, 1.2, 0.9], [(0, 0.4), (1, 0.6)], 4, 1)
    drawn = curve.grab().toImage()
    left, top, right, bottom = LossCurve.MARGIN
    assert curve.top() == 3.0                               # 2.1 rounded up to the next tick
    assert _ink(empty, 2, top, left - 6, 200 - bottom) > 20  # loss tick labels left of the axis
    assert _ink(empty, 400 - right + 6, top, 398, 200 - bottom) > 20   # mIoU % labels right of it
    assert _ink(empty, left, 200 - bottom + 6, 400 - right, 198) > 20  # step tick labels and "step" below
    inner = (left + 2, top + 16, 400 - right - 2, 200 - bottom - 2)
    assert _ink(drawn, *inner) > _ink(empty, *inner)        # the loss polyline and the mIoU dots

"""The Classes panel says where each class comes from, also for a trained checkpoint whose training never saw one
of its classes."""
import numpy as np

from engine.demo import own_classes
from engine.io.labels import write_class_names, write_label_png
from engine.labels import ClassList
from engine.learn.finetune import Recipe, train_on_folder
from engine.paths import DEMO_V1
from gui.app import start
from tests.support.gui_fixtures import fast_window, wait_ready  # noqa: F401


def test_a_class_the_training_never_saw_shows_as_new(qtbot, fast_window, tmp_path):
    """A walk: after training a folder without glass, the panel said 'model' (trained on this class) for glass."""
    import cv2
    folder = tmp_path / "site"
    (folder / "labels").mkdir(parents=True)
    classes = ClassList(own_classes.CLASS_NAMES, own_classes.PALETTE)
    sc = own_classes.make_scene(0, (120, 160))
    labels = np.where(sc.labels == own_classes.GLASS, 0, sc.labels).astype(np.uint8)
    labels[10:50, 10:60] = own_classes.CARDBOARD
    cv2.imwrite(str(folder / "img1.png"), cv2.cvtColor(sc.image, cv2.COLOR_RGB2BGR))
    write_label_png(folder / "labels" / "img1.png", labels, classes)
    write_class_names(folder / "labels" / "class_names.txt", classes)
    out = tmp_path / "trained.pt"
    train_on_folder(folder, DEMO_V1, out, Recipe(mode="head", epochs=1, batch_size=1, crop=64, holdout=0),
                    device="cpu")
    start(fast_window, folder, out)
    wait_ready(qtbot, fast_window)
    panel = fast_window.class_panel
    assert panel.origin(own_classes.GLASS) == "new"
    assert panel.origin(own_classes.CARDBOARD).startswith("model")
    assert panel.origin(1).startswith("model")

"""The CRF panel lists every backend; one that cannot run here (the reference one without the optional
pydensecrf) is greyed out with a tooltip that says what to install, and cannot be picked."""
from PySide6.QtCore import Qt

from engine.crf import backend_names, unavailable_backends
from engine.crf.reference import INSTALL_HINT
from gui.panels.crf import CRFPanel


def test_an_unavailable_backend_is_greyed_out_and_explained(qtbot):
    panel = CRFPanel(["reference", "fast"], "fast", unavailable={"reference": INSTALL_HINT})
    qtbot.addWidget(panel)
    box = panel.backend_box
    ref, fast = box.findData("reference"), box.findData("fast")
    assert not box.model().item(ref).isEnabled() and box.model().item(fast).isEnabled()
    assert "not installed" in box.itemText(ref)
    assert "pip install 'deeplab-annotator[reference]'" in box.itemData(ref, Qt.ItemDataRole.ToolTipRole)
    assert box.currentData() == "fast"


def test_by_default_the_panel_asks_the_engine_what_runs_here(qtbot):
    panel = CRFPanel(backend_names(), "fast")
    qtbot.addWidget(panel)
    box = panel.backend_box
    for name in backend_names():
        enabled = box.model().item(box.findData(name)).isEnabled()
        assert enabled == (name not in unavailable_backends()), name

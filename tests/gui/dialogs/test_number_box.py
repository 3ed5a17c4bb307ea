"""The CRF panel's and dialogs' number boxes: they read '.' and ',' as the decimal point and write '.', whatever
the system locale (a walk under de_DE: '10.64' typed in the CRF panel ran and was saved as 106), and take any
value the engine does, beyond their sliders."""
import pytest
from PySide6.QtCore import QLocale, Qt
from PySide6.QtTest import QTest

from gui.dialogs.number_box import DecimalBox
from gui.panels.crf import CRFPanel


@pytest.fixture
def german():
    before = QLocale()
    QLocale.setDefault(QLocale(QLocale.Language.German, QLocale.Country.Germany))
    yield
    QLocale.setDefault(before)


def typed(qtbot, box, text: str) -> float:
    box.lineEdit().selectAll()
    QTest.keyClicks(box.lineEdit(), text)
    QTest.keyClick(box.lineEdit(), Qt.Key.Key_Return)
    return box.value()


@pytest.mark.parametrize("text,value", [("3.5", 3.5), ("3,5", 3.5), ("10.64", 10.64), ("0.5", 0.5), ("80", 80.0)])
def test_a_decimal_box_reads_both_points_under_a_german_locale(qtbot, german, text, value):
    box = DecimalBox()
    qtbot.addWidget(box)
    box.setDecimals(2)
    box.setRange(0, 1000)
    box.show()
    assert typed(qtbot, box, text) == pytest.approx(value)
    assert box.text() == f"{value:.2f}"                               # shown with '.'


def test_the_crf_panel_takes_a_typed_value_with_a_point_under_a_german_locale(qtbot, german):
    panel = CRFPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert typed(qtbot, panel.rows["pos_xy_std"].spin, "3.5") == pytest.approx(3.5)
    assert panel.params().pos_xy_std == pytest.approx(3.5)


def test_a_folders_values_beyond_the_sliders_are_shown_and_run_as_recorded(qtbot):
    """A walk's folder recorded bi_w 50 and bi_xy_std 300: the panel cut them to its sliders' ends (20, 200)
    unsaid, and the window ran other values than `predict --crf-params labels/project.json`."""
    from engine.crf import CRFParams
    panel = CRFPanel()
    qtbot.addWidget(panel)
    recorded = CRFParams(pos_w=3, pos_xy_std=3, bi_w=50, bi_xy_std=300, bi_rgb_std=26.6, iterations=40)
    panel.use_folder_preset(recorded, emit=False)
    assert panel.params() == recorded
    assert panel.rows["bi_w"].slider.value() == panel.rows["bi_w"].slider.maximum()   # the slider at its end

"""Decimal boxes read '.' and ',' as the decimal point and write '.', whatever the system locale (a walk under de_DE:
'10.64' typed in the CRF panel ran and was saved as 106)."""
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

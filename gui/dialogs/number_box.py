"""A decimal spin box that writes numbers as the rest of the app does (a '.' decimal point, as the docs, the CLI and
labels/project.json write them) and reads both '.' and ',' as the decimal point.

Qt's QDoubleSpinBox follows the system locale: under a German or French locale it showed '3,50' and read a typed
'3.5' as 35 (the '.' taken for a thousands separator), so a value copied from the Tune dialog or the docs ran and
was saved ten or a hundred times too large, unsaid (a walk: 10.64 became 106, 0.5 became 5).
"""
from __future__ import annotations

from PySide6.QtCore import QLocale
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox


class DecimalBox(QDoubleSpinBox):
    def __init__(self, parent=None):
        super().__init__(parent)
        c = QLocale.c()
        c.setNumberOptions(QLocale.NumberOption.OmitGroupSeparator | QLocale.NumberOption.RejectGroupSeparator)
        self.setLocale(c)

    @staticmethod
    def _point(text: str) -> str:
        return text.replace(",", ".")

    def validate(self, text: str, pos: int):
        result = super().validate(self._point(text), pos)
        state = result[0] if isinstance(result, tuple) else result
        return (state, text, pos) if state != QValidator.State.Invalid else result

    def valueFromText(self, text: str) -> float:  # noqa: N802
        return super().valueFromText(self._point(text))

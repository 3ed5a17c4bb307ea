"""Image > Bands and scaling…: the folder's band choice and scaling for 16-bit, float and multi-band images.

Shows the folder's current engine.io.scaling.ImageScaling and what the open file holds (its band count and sample
type, from the header), and returns the new choice; the session writes it and reads the image again. Widgets only:
the conversion itself is engine.io.scaling.
"""
from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QLabel, QSpinBox, QVBoxLayout, QWidget)

from engine.io.scaling import ImageScaling, ImageSettingsError
from engine.limits import MAX_BANDS
from gui.dialogs.number_box import DecimalBox

BAND_MODES = (("auto", "Automatic (RGB, or the first three bands; one band as grey)"),
              ("rgb", "Three bands as red, green, blue"), ("grey", "One band as grey"))
SCALINGS = (("percentile", "Percentile stretch (each band)"), ("minmax", "Minimum to maximum (each band)"),
            ("fixed", "Fixed range (every band and image)"))


def _spin(value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(1, MAX_BANDS)
    box.setValue(value)
    return box


def _number(value: float, lo: float, hi: float, decimals: int) -> DecimalBox:
    box = DecimalBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setValue(value)
    return box


class ImageScalingDialog(QDialog):
    """``scaling`` holds the accepted choice."""

    def __init__(self, parent, current: ImageScaling, about_image: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Bands and scaling")
        self.scaling: ImageScaling | None = None
        form = QFormLayout()
        self.about = QLabel(about_image or "For 16-bit, 32-bit, float and multi-band images; 8-bit images are "
                                           "shown as they are.")
        self.about.setWordWrap(True)

        self.band_mode = QComboBox()
        for key, text in BAND_MODES:
            self.band_mode.addItem(text, key)
        bands = current.bands or (1, 2, 3)
        self.red, self.green, self.blue = (_spin(b) for b in (bands + (2, 3))[:3])
        row = QHBoxLayout()
        for text, box in (("R", self.red), ("G", self.green), ("B", self.blue)):
            row.addWidget(QLabel(text))
            row.addWidget(box)
        self.band_row = QWidget()
        self.band_row.setLayout(row)
        mode = "auto" if current.bands is None else "grey" if len(current.bands) == 1 else "rgb"
        self.band_mode.setCurrentIndex([k for k, _ in BAND_MODES].index(mode))

        self.mode = QComboBox()
        for key, text in SCALINGS:
            self.mode.addItem(text, key)
        self.mode.setCurrentIndex([k for k, _ in SCALINGS].index(current.mode))
        self.p_low, self.p_high = (_number(v, 0, 100, 2) for v in current.percentiles)
        lo, hi = current.range or (0.0, 65535.0)
        self.r_low, self.r_high = (_number(v, -1e12, 1e12, 4) for v in (lo, hi))
        self.percentile_row = self._pair(self.p_low, self.p_high, "low %", "high %")
        self.range_row = self._pair(self.r_low, self.r_high, "black at", "white at")

        form.addRow(self.about)
        form.addRow("Bands", self.band_mode)
        form.addRow("", self.band_row)
        form.addRow("Scaling", self.mode)
        form.addRow("Percentiles", self.percentile_row)
        form.addRow("Range", self.range_row)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #c0392b")
        self.problem.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("NaN and infinite values are no-data: shown black. The choice is stored in the "
                                "folder's labels/project.json and used for prediction and training too."))
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.band_mode.currentIndexChanged.connect(self._update)
        self.mode.currentIndexChanged.connect(self._update)
        self._update()

    @staticmethod
    def _pair(low, high, low_text: str, high_text: str) -> QWidget:
        row = QHBoxLayout()
        for text, box in ((low_text, low), (high_text, high)):
            row.addWidget(QLabel(text))
            row.addWidget(box)
        widget = QWidget()
        widget.setLayout(row)
        return widget

    def _update(self) -> None:
        bands = self.band_mode.currentData()
        self.band_row.setVisible(bands != "auto")
        self.green.setVisible(bands == "rgb")
        self.blue.setVisible(bands == "rgb")
        mode = self.mode.currentData()
        self.percentile_row.setEnabled(mode == "percentile")
        self.range_row.setEnabled(mode == "fixed")

    def chosen(self) -> ImageScaling:
        """The choice the widgets show; ImageSettingsError when it cannot be used."""
        bands = {"auto": None, "grey": (self.red.value(),),
                 "rgb": (self.red.value(), self.green.value(), self.blue.value())}[self.band_mode.currentData()]
        mode = self.mode.currentData()
        rng = (self.r_low.value(), self.r_high.value()) if mode == "fixed" else None
        return ImageScaling(mode, (self.p_low.value(), self.p_high.value()), rng, bands)

    def accept(self) -> None:
        try:
            self.scaling = self.chosen()
        except ImageSettingsError as exc:
            self.problem.setText(str(exc))     # the dialog stays open: nothing typed is lost
            return
        super().accept()

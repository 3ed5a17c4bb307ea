"""CRF panel: a slider and a spin box per CRFParams field, a preset picker and the backend choice.

``params_changed`` fires while a slider moves, once per pass of the event loop (changes made in one
pass, e.g. a preset setting every row, are one emission): the controller previews each (on a
downscaled copy for large images) and coalesces what arrives while one runs. Presets come from the
engine (engine.crf.all_presets), never copied here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.crf import CRFParams, all_presets, unavailable_backends
from engine.crf.params import FIELD_LABELS, PARAM_RANGES, PRESET_LABELS
from gui.dialogs.number_box import DecimalBox

DEBOUNCE_MS = 0  # coalesce only the changes of one event-loop pass: previews follow the slider
CUSTOM = "custom"
FOLDER_PRESET, FOLDER_PRESET_LABEL = "folder", "This folder (tuned)"   # CRF > Tune on saved labels…
FOLDER_VALUES_LABEL = "This folder"   # the CRF values an opened folder's project.json records


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    lo: float
    hi: float
    step: float
    tip: str


FIELDS = (
    Field("pos_w", FIELD_LABELS["pos_w"], 0, 20, 0.5, "pos_w: weight of the position-only (Gaussian) kernel"),
    Field("pos_xy_std", FIELD_LABELS["pos_xy_std"], 0.5, 20, 0.5, "pos_xy_std: spatial std of the Gaussian kernel"),
    Field("bi_w", FIELD_LABELS["bi_w"], 0, 20, 0.5, "bi_w: weight of the colour-aware (bilateral) kernel"),
    Field("bi_xy_std", FIELD_LABELS["bi_xy_std"], 1, 200, 1, "bi_xy_std: spatial std of the bilateral kernel"),
    Field("bi_rgb_std", FIELD_LABELS["bi_rgb_std"], 0.5, 40, 0.5, "bi_rgb_std: colour std of the bilateral kernel"),
    Field("iterations", FIELD_LABELS["iterations"], 0, 30, 1, "mean-field iterations (0 = CRF off)"),
)


LOG_STEPS = 1000   # slider positions of a log-scale row


class _Row(QWidget):
    """Slider + spin box kept in step; ``changed`` fires on user edits only. A value that spans decades (a width
    of 1 to 200 px) moves on a log scale, so each pixel of a drag changes it by the same ratio (a short drag
    near 80 no longer lands at 1); weights, which start at 0, stay linear."""
    changed = Signal()

    def __init__(self, field: Field, parent=None):
        super().__init__(parent)
        self.field = field
        self.log = field.lo > 0 and field.hi / field.lo >= 10
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, LOG_STEPS if self.log else round((field.hi - field.lo) / field.step))
        if field.name == "iterations":
            self.spin = QSpinBox()
        else:
            self.spin = DecimalBox()
            self.spin.setDecimals(2)   # the CRF search's values (10.64) and a folder's, as they are, not rounded
            self.spin.setSingleStep(field.step)
        # the slider spans the usual values; the box takes what the engine does (a folder's recorded bi_w 50 was
        # cut to the slider's 20, unsaid, and the window ran other values than predict --crf-params)
        lo, hi = PARAM_RANGES[field.name]
        self.spin.setRange(lo if field.name == "iterations" else max(lo, 10 ** -self.spin.decimals()), hi)
        self.spin.setKeyboardTracking(False)
        self.spin.setMinimumWidth(70)
        for w in (self.slider, self.spin):
            w.setToolTip(field.tip + (" (log scale: each step multiplies)" if self.log and w is self.slider else "")
                         + ("" if w is self.slider else f" (the slider spans {field.lo:g}-{field.hi:g}; type up to "
                                                        f"{self.spin.maximum():g})"))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)

    def to_slider(self, value: float) -> int:
        f = self.field
        if self.log:
            return round(LOG_STEPS * math.log(max(value, f.lo) / f.lo) / math.log(f.hi / f.lo))
        return round((value - f.lo) / f.step)

    def from_slider(self, pos: int) -> float:
        f = self.field
        return f.lo * (f.hi / f.lo) ** (pos / LOG_STEPS) if self.log else f.lo + pos * f.step

    def value(self) -> float:
        return self.spin.value()

    def set_value(self, value: float) -> None:
        for w in (self.slider, self.spin):
            w.blockSignals(True)
        self.spin.setValue(value)
        self.slider.setValue(self.to_slider(value))
        for w in (self.slider, self.spin):
            w.blockSignals(False)

    def _from_slider(self, pos: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(round(self.from_slider(pos), 1))   # a drag lands on tenths (typed or kept values: 0.01)
        self.spin.blockSignals(False)
        self.changed.emit()

    def _from_spin(self, value) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(self.to_slider(value))
        self.slider.blockSignals(False)
        self.changed.emit()


class CRFPanel(QWidget):
    params_changed = Signal(object)   # CRFParams, as the values change (coalesced per event-loop pass)
    backend_changed = Signal(str)

    def __init__(self, backends=(), backend: str = "", parent=None, unavailable: dict[str, str] | None = None):
        """unavailable: backend -> why it cannot run here (default: engine.crf.unavailable_backends()); such a
        backend stays listed, greyed out, its tooltip saying what to install."""
        super().__init__(parent)
        self.presets = all_presets()
        self.preset_box = QComboBox()
        for name in self.presets:
            self.preset_box.addItem(PRESET_LABELS.get(name, name), name)
        self.preset_box.addItem("Custom", CUSTOM)
        self.reset_button = QPushButton("Reset to preset")
        self.backend_box = QComboBox()
        unavailable = unavailable_backends() if unavailable is None else unavailable
        for name in backends:
            reason = unavailable.get(name)
            self.backend_box.addItem(f"{name} (not installed)" if reason else name, name)
            if reason:
                index = self.backend_box.count() - 1
                self.backend_box.model().item(index).setEnabled(False)
                self.backend_box.setItemData(index, reason, Qt.ItemDataRole.ToolTipRole)
        if backend:
            self.backend_box.setCurrentIndex(max(0, self.backend_box.findData(backend)))
        self.backend_box.setToolTip("CRF engine: 'reference' is pydensecrf; others must give the same result")
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)   # each slider as wide as the panel: a
        form.setVerticalSpacing(2)                                     # pixel of drag is a small step
        form.addRow("Preset", self.preset_box)
        self.rows: dict[str, _Row] = {}
        for field in FIELDS:
            row = _Row(field)
            self.rows[field.name] = row
            form.addRow(field.label, row)
            row.changed.connect(self._on_edit)
        form.addRow("Engine", self.backend_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.reset_button)
        layout.addStretch(1)
        self._base = next(iter(self.presets))  # the preset Reset returns to
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(lambda: self.params_changed.emit(self.params()))
        self.preset_box.activated.connect(self._on_preset_picked)
        self.reset_button.clicked.connect(self.reset)
        self.backend_box.activated.connect(lambda _i: self.backend_changed.emit(self.backend_box.currentData()))
        self._show(self.presets[self._base])

    def show_backend(self, name: str) -> None:
        """The engine in use changed (a folder's record, the preference back): the box shows it, unannounced."""
        index = self.backend_box.findData(name)
        if index >= 0:
            self.backend_box.setCurrentIndex(index)

    def params(self) -> CRFParams:
        values = {name: row.value() for name, row in self.rows.items()}
        values["iterations"] = int(values["iterations"])
        return CRFParams(**values)

    def preset_name(self) -> str:
        return self.preset_box.currentData()

    def set_params(self, params: CRFParams, emit: bool = False) -> None:
        """Show ``params`` (the preset box follows: a matching preset or Custom)."""
        self._show(params)
        if emit:
            self._timer.start()

    def set_preset(self, name: str, emit: bool = True) -> None:
        if name in self.presets:
            self._base = name
            self.set_params(self.presets[name], emit)

    def add_preset(self, name: str, label: str, params: CRFParams) -> None:
        """Offer another preset (e.g. the values tuned on this folder's saved labels); replaces one of that name."""
        self.presets[name] = params
        i = self.preset_box.findData(name)
        if i < 0:
            self.preset_box.insertItem(self.preset_box.findData(CUSTOM), label, name)
        else:
            self.preset_box.setItemText(i, label)

    def reset(self) -> None:
        """Back to the values of the last chosen preset."""
        self.set_preset(self._base)

    def use_folder_preset(self, params: CRFParams, label: str = FOLDER_PRESET_LABEL, emit: bool = True) -> None:
        """This folder's values (what CRF > Tune found, or what its project.json records): offered as its own
        preset and chosen now."""
        self.add_preset(FOLDER_PRESET, label, params)
        self.set_preset(FOLDER_PRESET, emit)
        if emit:
            self.flush()   # a deliberate choice: no need to wait for the slider debounce

    def drop_folder_preset(self) -> None:
        """Another folder, with no CRF values of its own: the last folder's are no preset here."""
        self.presets.pop(FOLDER_PRESET, None)
        if self._base == FOLDER_PRESET:
            self._base = next(iter(self.presets))
        i = self.preset_box.findData(FOLDER_PRESET)
        if i >= 0:
            self.preset_box.blockSignals(True)
            self.preset_box.removeItem(i)
            self.preset_box.blockSignals(False)
            self._sync_preset_box(self.params())

    def flush(self) -> None:
        """Emit a pending (coalesced) change now."""
        if self._timer.isActive():
            self._timer.stop()
            self.params_changed.emit(self.params())

    def _show(self, params: CRFParams) -> None:
        for name, row in self.rows.items():
            row.set_value(getattr(params, name))
        self._sync_preset_box(params)

    def _sync_preset_box(self, params: CRFParams) -> None:
        match = next((n for n, p in self.presets.items() if p == params), CUSTOM)
        if match != CUSTOM:
            self._base = match
        self.preset_box.setCurrentIndex(self.preset_box.findData(match))

    def _on_preset_picked(self, index: int) -> None:
        name = self.preset_box.itemData(index)
        if name == CUSTOM:
            return
        self.set_preset(name)

    def _on_edit(self) -> None:
        self._sync_preset_box(self.params())
        self._timer.start()


class _Scrolled(QScrollArea):
    """Asks for its panel's whole size (a scroll area's own hint is small, so the dock would start short and
    scroll where there is room) and can still be made shorter than it."""

    def sizeHint(self):  # noqa: N802 (Qt name)
        hint = self.widget().sizeHint()
        return hint.grownBy(self.contentsMargins()) if hasattr(hint, "grownBy") else hint


def scrolled(panel: QWidget) -> QScrollArea:
    """The panel in a scroll area, so its dock can be shorter than its rows: a walk at 1.5x scaling on 1366x768
    (512 logical px tall) got a window 639 px tall, the status bar and the last CRF rows off the screen."""
    area = _Scrolled()
    area.setWidget(panel)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(panel.minimumSizeHint().width())
    return area

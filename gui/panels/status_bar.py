"""Status bar: what is running (with progress and Cancel), which labels are shown (exact, local, a preview),
the editing tool, the device in use, and 'image 5/100'. Messages are elided to the room there is (full text in
the tooltip): a long error must never widen the window."""
from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QSizePolicy, QStatusBar


class ElidedLabel(QLabel):
    """A one-line label that asks for no width of its own and draws its text elided ("…") to fit."""

    def __init__(self, text: str = "", parent=None, min_chars: int = 8):
        super().__init__(parent)
        self._full = ""
        self._min_chars = min_chars
        self._reserved = 0   # px asked for by reserve()
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt name)
        was_empty = not self._full
        self._full = " ".join(str(text).splitlines())   # one line: newlines would grow the bar's height
        super().setText(self._full)
        if was_empty != (not self._full):   # its minimum width comes or goes (minimumSizeHint)
            self.updateGeometry()
        self.update()

    def text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        """What is drawn at the current width."""
        return self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(self.width(), 0))

    def _need(self, text: str, most: int) -> int:
        return min(self.fontMetrics().horizontalAdvance(text) + 2 * self.fontMetrics().averageCharWidth(), most)

    def reserve(self, text: str, most: int) -> None:
        """Ask for room for ``text`` uncut from now on (at most ``most`` px, never less than before), as a size
        hint the layout meets where it can, not a minimum: a readout the cursor changes grows once to what it
        needs, its neighbours do not jump at every move, and the window can still be made narrower."""
        need = self._need(text, most)
        if need > self._reserved:
            self._reserved = need
            self.updateGeometry()

    def release(self) -> None:
        """Ask for no room until the next reserve() (a readout with nothing to show gives its room back)."""
        if self._reserved:
            self._reserved = 0
            self.updateGeometry()

    def ask(self, most: int) -> None:
        """Ask for the room the current text needs (at most ``most`` px), as a size hint: a message shares the
        bar with its neighbours when room is short instead of getting only what they leave."""
        need = self._need(self._full, most)
        if need != self._reserved:
            self._reserved = need
            self.updateGeometry()

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        """min_chars wide, or nothing while it has nothing to show (a walk: an empty readout held 180 px while the
        message beside it was cut to 'Refining wit…')."""
        chars = self._min_chars if self._full else 0
        return QSize(self.fontMetrics().averageCharWidth() * chars, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802
        hint = self.minimumSizeHint()
        return QSize(max(hint.width(), self._reserved), hint.height())

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), int(self.alignment() | Qt.AlignmentFlag.AlignVCenter),
                         self.shown_text())


ERROR_HOLD_S = 6.0    # an error stays readable this long: later plain messages wait (a walk saw warnings about a
#                      label file replaced by "Ready" within half a second)
ACTIVITY_MOST = 0.6   # share of the bar a message may ask for while work runs (idle, the readout comes first)


class FittedLabel(ElidedLabel):
    """A status-bar fact (which labels, the tool, the device, what the model learnt): it asks for its whole text and
    gives way down to ``min_chars`` when the bar is short, elided (the full text on hover), so a narrow window cuts
    every part a little (a walk at 1110 px: these kept 700 px whole and the running step's message got 12 px,
    shown as '…')."""
    _help = ""

    def __init__(self, text: str = "", help_text: str = "", min_chars: int = 6):
        super().__init__(text, None, min_chars)
        self._help = help_text
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt name)
        super().setText(text)
        self.setToolTip(f"{self.text()}\n\n{self._help}" if self._help and self.text() else self._help or self.text())
        self.ask(1 << 16)


class KindLabel(FittedLabel):
    """'Labels: exact': which labels the layer shows, the one fact the bar never cuts. Short of room it shows the
    kind alone ('exact'), and it asks for at least that much (a walk at 1024 px read 'Lab…')."""

    def __init__(self, help_text: str = ""):
        super().__init__("", help_text)
        self._kind = ""

    def set_kind(self, kind: str) -> None:
        self._kind = kind
        self._min_chars = len(kind) + 2 if kind else 6
        self.setText(f"Labels: {kind}" if kind else "")
        self.updateGeometry()

    def shown_text(self) -> str:
        fm, width = self.fontMetrics(), max(self.width(), 0)
        if not self._kind or fm.horizontalAdvance(self.text()) <= width:
            return super().shown_text()
        return fm.elidedText(self._kind, Qt.TextElideMode.ElideRight, width)


class StatusBar(QStatusBar):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.activity = ElidedLabel("Ready", min_chars=2)
        self.activity.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)   # hint: ask()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(100)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.elapsed = QLabel("")
        self.elapsed.setToolTip("How long the running work (prediction, CRF, a save's exact CRF) has taken so far")
        self.elapsed.hide()
        self._since = 0.0
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._show_elapsed)
        self._error_until = 0.0
        self._deferred: str | None = None     # the plain message that waits for an error's hold to end
        self._hold = QTimer(self)
        self._hold.setSingleShot(True)
        self._hold.timeout.connect(self._release)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop prediction / CRF (Esc)")
        self.cancel.setEnabled(False)
        self.cancel.hide()   # shown while work runs: idle, its room goes to the readout and the messages
        self.position = QLabel("")
        self.tool = FittedLabel("", "Editing tool, brush radius and paint class")
        self.device = FittedLabel("Device: –")
        self.labels_kind = KindLabel("What the label layer shows: the exact CRF result, a local refinement "
                                       "around your last edit (the exact result follows when you pause), or a "
                                       "preview computed at lower resolution while you move a slider. Save always "
                                       "writes the exact result.")
        self.addWidget(self.activity, 1)
        self._activity_stretch = 1
        self.addWidget(self.progress)
        self.addWidget(self.elapsed)
        self.addWidget(self.cancel)
        self.addPermanentWidget(self.labels_kind)
        self.addPermanentWidget(self.tool)
        self.addPermanentWidget(self.position)
        self.addPermanentWidget(self.device)

    @staticmethod
    def fact_label(help_text: str = "") -> FittedLabel:
        """A label for a fact another part of the window keeps in the bar (what the model learnt): it gives way
        when the bar is short, as the bar's own do."""
        return FittedLabel("", help_text)

    def set_activity(self, text: str, error: bool = False) -> None:
        left = self._error_until - time.monotonic()
        if not error and left > 0:        # an error is still being read: the latest plain message waits
            self._deferred = text
            self._hold.start(int(left * 1000) + 1)
            return
        self._deferred = None
        if error:
            self._error_until = time.monotonic() + ERROR_HOLD_S
        self.activity.setText(f"⚠ {text}" if error else text)
        self._ask_room()
        self.activity.setToolTip(text)
        self.activity.setStyleSheet("color: #c0392b;" if error else "")

    def end_error_hold(self) -> None:
        """What the shown error was about is resolved (the labels were saved): the next message shows at once (a
        walk read "Autosave failed, your edits are only in memory" for 6 s after a save that worked)."""
        self._error_until = 0.0
        self._hold.stop()

    def _release(self) -> None:
        """An error's hold ended: the plain message that came meanwhile (the latest) is shown."""
        if self._deferred is not None:
            self.set_activity(self._deferred)

    def _ask_room(self) -> None:
        """While work runs its message ("Refining with CRF… 3/10") shares the bar with the cursor readout; idle,
        it gets what the readout leaves (its full text is in the tooltip)."""
        busy = self.progress.isVisibleTo(self)
        self.activity.ask(int(self.width() * ACTIVITY_MOST) if busy else 0)
        # A QBoxLayout short of room shrinks items with stretch first, down to their minimum, and takes the rest
        # equally from the others: stretch 0 while busy, so the message and the readout give way alike.
        stretch = 0 if busy else 1
        if stretch != self._activity_stretch:
            self._activity_stretch = stretch
            self.removeWidget(self.activity)
            self.insertWidget(0, self.activity, stretch)
            self.activity.show()

    def set_labels_kind(self, text: str) -> None:
        self.labels_kind.set_kind(text)

    def set_tool(self, text: str) -> None:
        self.tool.setText(text)

    def set_device(self, text: str) -> None:
        self.device.setText(f"Device: {text}")

    def set_position(self, text: str) -> None:
        self.position.setText(text)

    def set_busy(self, busy: bool) -> None:
        """Busy: a moving bar (numbers when the job reports them) and, after a second, the time taken so far, so a
        long CRF on a 12 MP image visibly runs."""
        self.cancel.setEnabled(busy)
        self.cancel.setVisible(busy)
        was = self.progress.isVisibleTo(self)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)  # indeterminate until a job reports numbers
            if not was or not self._tick.isActive():
                self._since = time.monotonic()
                self._tick.start()
        else:
            self._tick.stop()
            self.elapsed.hide()
        self._ask_room()

    def elapsed_s(self) -> float:
        """Seconds the current busy spell has lasted (0 when idle)."""
        return time.monotonic() - self._since if self._tick.isActive() else 0.0

    def _show_elapsed(self) -> None:
        s = int(self.elapsed_s())
        self.elapsed.setText(f"{s // 60}:{s % 60:02d}")
        self.elapsed.setVisible(s >= 1)

    def set_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        else:
            self.progress.setRange(0, 0)

"""Window layout: View > Panels (show/hide each dock and toolbar, reset), the dock/toolbar arrangement saved and
restored with QSettings, the restored geometry kept on a screen, and the colour theme (View > Theme).

Theme 'System' follows the desktop's colour scheme (Qt's styleHints().colorScheme(), live when it changes); a dark
scheme gets a dark Fusion palette, since Qt's own palette stays light on desktops without a platform theme.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QDockWidget, QMenu, QStyleFactory, QToolBar

THEMES = {"system": "&System", "light": "&Light", "dark": "&Dark"}


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text, dim = QColor(30, 30, 32), QColor(45, 45, 48), QColor(225, 225, 225), QColor(130, 130, 130)
    for role, colour in ((QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
                         (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, window),
                         (QPalette.ColorRole.ToolTipBase, window), (QPalette.ColorRole.ToolTipText, text),
                         (QPalette.ColorRole.Text, text), (QPalette.ColorRole.Button, QColor(62, 62, 66)),
                         (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.BrightText, QColor(255, 90, 90)),
                         (QPalette.ColorRole.Link, QColor(90, 160, 255)),
                         (QPalette.ColorRole.Highlight, QColor(42, 110, 200)),
                         (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
                         (QPalette.ColorRole.PlaceholderText, dim), (QPalette.ColorRole.Mid, QColor(70, 70, 74)),
                         (QPalette.ColorRole.Dark, QColor(20, 20, 22)), (QPalette.ColorRole.Light, QColor(80, 80, 84))):
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, dim)
    return p


_SYSTEM: dict = {}   # the palette the platform gave, before any theme was applied


def system_is_dark(app=None) -> bool:
    """The desktop asks for a dark scheme, or (no scheme reported) its palette is already dark."""
    app = app or QApplication.instance()
    scheme = app.styleHints().colorScheme()
    if scheme != Qt.ColorScheme.Unknown:
        return scheme == Qt.ColorScheme.Dark
    return _SYSTEM.get("palette", app.palette()).color(QPalette.ColorRole.Window).lightness() < 128


def apply_theme(choice: str, app=None) -> bool:
    """Apply 'system', 'light' or 'dark'; True if the result is dark. 'system' in a light desktop keeps the
    platform's own palette untouched."""
    app = app or QApplication.instance()
    _SYSTEM.setdefault("palette", QPalette(app.palette()))
    dark = choice == "dark" or (choice == "system" and system_is_dark(app))
    if choice == "system" and not dark:
        app.setPalette(_SYSTEM["palette"])
        return False
    if app.style().name().lower() != "fusion":
        app.setStyle(QStyleFactory.create("Fusion"))    # a style that draws with the palette it is given
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
    return dark


def clamp_to_screen(window) -> None:
    """Move (and if needed shrink) a top-level window so its frame lies on the screen it is mostly on: a geometry
    saved on a bigger or second monitor must not open off-screen or larger than the screen."""
    frame, geo = window.frameGeometry(), window.geometry()
    screen = QGuiApplication.screenAt(frame.center()) or window.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return
    avail = screen.availableGeometry()
    extra_w, extra_h = frame.width() - geo.width(), frame.height() - geo.height()
    w = max(min(geo.width(), avail.width() - extra_w), window.minimumWidth())
    h = max(min(geo.height(), avail.height() - extra_h), window.minimumHeight())
    if (w, h) != (geo.width(), geo.height()):
        window.resize(w, h)
    x = min(max(frame.left(), avail.left()), avail.left() + avail.width() - (w + extra_w))
    y = min(max(frame.top(), avail.top()), avail.top() + avail.height() - (h + extra_h))
    if (x, y) != (frame.left(), frame.top()):
        window.move(max(x, avail.left()), max(y, avail.top()))


def fit_default_size(window) -> None:
    """The first start: the window's size, but never more than 90 % of the screen (a 1366x768 laptop)."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        avail = screen.availableGeometry()
        window.resize(min(window.width(), int(avail.width() * 0.9)), min(window.height(), int(avail.height() * 0.9)))


class WindowLayout(QObject):
    """Owns View > Panels and View > Theme; restores the layout now and saves it when the window closes."""

    def __init__(self, window, view_menu: QMenu):
        super().__init__(window)
        self.window, self.prefs = window, window.prefs
        self.docks = window.findChildren(QDockWidget)
        self.toolbars = window.findChildren(QToolBar)
        for dock in self.docks:
            dock.setFeatures(dock.features() | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self._default_state = window.saveState()
        view_menu.addSeparator()
        self.panels = view_menu.addMenu("&Panels")
        for widget in self.docks + self.toolbars:
            act = widget.toggleViewAction()
            act.setText(widget.windowTitle() + ("" if isinstance(widget, QDockWidget) else " toolbar"))
            self.panels.addAction(act)
        self.panels.addSeparator()
        self.reset_action = self.panels.addAction("&Reset layout", self.reset)
        self.theme_menu = view_menu.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        choice = self.prefs.theme
        for key, label in THEMES.items():
            act = QAction(label, self, checkable=True)
            act.setData(key)
            act.setChecked(key == choice)
            act.triggered.connect(lambda _=False, k=key: self.set_theme(k))
            self.theme_group.addAction(act)
            self.theme_menu.addAction(act)
        self.theme = choice if choice in THEMES else "system"
        self.dark = apply_theme(self.theme)
        QApplication.instance().styleHints().colorSchemeChanged.connect(self._on_scheme_changed)
        geometry = self.prefs.geometry      # saved by the window when it closes
        self.restored = geometry is not None and window.restoreGeometry(geometry)
        if not self.restored:
            fit_default_size(window)
        state = self.prefs.window_state
        if state is not None:
            window.restoreState(state)
        window.installEventFilter(self)
        self._clamped = not self.restored   # only a restored geometry can come from another screen

    def set_theme(self, choice: str) -> None:
        self.theme = choice
        self.prefs.theme = choice
        self.dark = apply_theme(choice)

    def _on_scheme_changed(self, _scheme) -> None:
        if self.theme == "system":
            self.dark = apply_theme("system")

    def reset(self) -> None:
        """Every panel and toolbar back where it started, all shown."""
        self.window.restoreState(self._default_state)
        for widget in self.docks + self.toolbars:
            widget.setVisible(True)

    def _clamp(self) -> None:
        clamp_to_screen(self.window)

    def save(self) -> None:
        self.prefs.window_state = self.window.saveState()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
        if obj is self.window:
            if event.type() == QEvent.Type.Show and not self._clamped:
                self._clamped = True
                QTimer.singleShot(0, self, self._clamp)   # frame sizes are known once shown
            elif event.type() == QEvent.Type.Close:
                self.save()
        return False

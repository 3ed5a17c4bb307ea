"""A keyboard-first walk on a small screen, in the real window: Enter or Esc in a CRF value box, on a CRF slider or
in the class list hands the keys back to the canvas (and Esc in a box drops what was typed); Enter in the class
list paints with the highlighted class; Esc drops a polygon being drawn; Ctrl+= zooms in; the shortcuts list
fits a short screen; the Import labels dialog starts with nothing to cancel."""
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from gui.app import start
from gui.dialogs.import_labels import ImportDialog
from tests.support.gui_fixtures import env, wait_ready, window  # noqa: F401
from tests.support.gui_helpers import focus_on


def _opened(qtbot, window, env):
    folder, model = env
    start(window, folder, model)
    return wait_ready(qtbot, window)


def test_enter_in_a_crf_box_hands_the_keys_back_and_esc_drops_what_was_typed(qtbot, window, env):
    """A walk typed 4 + Enter in Smoothness weight, then 2 and B: both went into the box, and the weight became 2
    when the image was clicked."""
    _opened(qtbot, window, env)
    row = window.crf_panel.rows["pos_w"]
    focus_on(qtbot, window, row.spin)
    row.spin.lineEdit().selectAll()
    qtbot.keyClicks(row.spin, "4")
    qtbot.keyClick(row.spin, Qt.Key.Key_Return)
    qtbot.waitUntil(window.canvas.hasFocus, timeout=5000)
    assert window.crf_panel.params().pos_w == 4.0
    qtbot.keyClick(QApplication.focusWidget(), "2")              # a class digit again, not a CRF value
    assert window.ctl.editor.paint_class == 2 and window.crf_panel.params().pos_w == 4.0

    focus_on(qtbot, window, row.spin)
    row.spin.lineEdit().selectAll()
    qtbot.keyClicks(row.spin, "9")
    qtbot.keyClick(row.spin, Qt.Key.Key_Escape)                  # typed, not entered: dropped
    qtbot.waitUntil(window.canvas.hasFocus, timeout=5000)
    assert window.crf_panel.params().pos_w == 4.0 and row.spin.text().startswith("4")

    slider = window.crf_panel.rows["bi_w"].slider
    focus_on(qtbot, window, slider)
    qtbot.keyClick(slider, Qt.Key.Key_Escape)
    qtbot.waitUntil(window.canvas.hasFocus, timeout=5000)


def test_enter_in_the_class_list_paints_with_the_highlighted_class(qtbot, window, env):
    _opened(qtbot, window, env)
    tree = window.class_panel.tree
    window.ctl.editor.set_paint_class(0)
    focus_on(qtbot, window, tree)
    tree.setCurrentItem(tree.topLevelItem(2))                    # (the arrows move this highlight)
    row_class = int(tree.currentItem().text(0).split()[0])
    qtbot.keyClick(tree, Qt.Key.Key_Return)
    assert window.ctl.editor.paint_class == row_class != 0
    qtbot.waitUntil(window.canvas.hasFocus, timeout=5000)


def test_esc_drops_the_polygon_being_drawn(qtbot, window, env):
    """A walk's Esc kept the points: the triangle drawn again was both traced as one outline (270 px locked, not
    3,631)."""
    _opened(qtbot, window, env)
    window.editing.set_tool("polygon")
    tool = window.editing.tools["polygon"]
    canvas = window.canvas
    focus_on(qtbot, window, canvas)
    for p in ((10, 10), (60, 12), (30, 50)):
        tool.on_press(canvas, QPointF(*p), None)
        tool.release(canvas, QPointF(*p), None)
    assert len(tool.points) == 3
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert tool.points == []
    for p in ((10, 10), (60, 12), (30, 50)):
        tool.on_press(canvas, QPointF(*p), None)
        tool.release(canvas, QPointF(*p), None)
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert int(window.ctl.state.locked.sum()) > 800              # the filled triangle, not its outline


def test_ctrl_z_while_drawing_a_polygon_drops_its_last_point_and_two_points_are_said(qtbot, window, env):
    """A walk: Ctrl+Z while placing polygon points undid the last finished edit and kept the points (labelme drops
    the last point); two points and Enter did nothing, unsaid."""
    _opened(qtbot, window, env)
    window.editing.set_tool("polygon")
    tool, canvas = window.editing.tools["polygon"], window.canvas
    window.ctl.editor.set_radius(3)
    window.ctl.editor.begin_stroke((5, 5))
    window.ctl.editor.stroke_to((20, 5))
    window.ctl.editor.end_stroke()                               # a finished edit Ctrl+Z must leave alone
    stack = window.ctl.editor.stack()
    done = stack.index()
    focus_on(qtbot, window, canvas)
    for p in ((10, 10), (60, 12), (30, 50)):
        tool.on_press(canvas, QPointF(*p), None)
        tool.release(canvas, QPointF(*p), None)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert tool.points == [(10.0, 10.0), (60.0, 12.0)] and stack.index() == done
    errors = []
    window.ctl.editor.message.connect(errors.append)
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert tool.points == [] and stack.index() == done
    assert errors == ["A polygon needs at least 3 points: click 3 or more, then Enter"]
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)   # no points: the window's Undo
    qtbot.waitUntil(lambda: stack.index() == done - 1, timeout=5000)


def test_ctrl_equals_zooms_in(qtbot, window, env):
    _opened(qtbot, window, env)
    focus_on(qtbot, window, window.canvas)
    before = window.canvas.transform().m11()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert window.canvas.transform().m11() > before * 1.1


def test_the_shortcuts_list_is_no_taller_than_the_screen(qtbot, window, monkeypatch):
    """A walk at 1.5x on 1366x768 (912 x 512 logical) had the dialog 560 px tall and Close off the screen."""
    screen = window.screen() or QApplication.primaryScreen()
    geometry = screen.availableGeometry()
    monkeypatch.setattr(type(screen), "availableGeometry", lambda self: geometry.adjusted(0, 0, 0, -(
        geometry.height() - 400)))
    dialog = window.help_menu.show_shortcuts()
    assert dialog.height() <= 400 * 9 // 10
    dialog.close()


def test_the_import_dialog_starts_with_nothing_to_cancel_and_read_as_its_default(qtbot, window):
    """A walk found Cancel enabled and Close the default (Enter closed it) before anything was chosen."""
    dialog = ImportDialog(window)
    qtbot.addWidget(dialog)
    assert not dialog.cancel_button.isEnabled() and not dialog.import_button.isEnabled()
    assert dialog.read_button.isDefault() and not dialog.close_button.isDefault()


def test_the_window_fits_a_short_screen_the_crf_panel_scrolls(qtbot, window):
    """A walk at 1.5x on 1366x768 (512 logical px tall): the window's minimum was 639 px tall, so the status bar
    and the last CRF rows were off the screen. The CRF panel now scrolls in its dock."""
    from PySide6.QtWidgets import QScrollArea
    assert window.minimumSizeHint().height() <= 480
    dock_widget = window.findChild(QScrollArea)
    assert dock_widget is not None and dock_widget.widget() is window.crf_panel
    assert dock_widget.sizeHint().height() >= window.crf_panel.sizeHint().height()   # whole where there is room


def test_every_toolbar_button_shows_at_1280_px_with_a_long_class_name(qtbot, window, env):
    """At 1280 px (1920 at 1.5x) the tools toolbar overflowed into its » menu, hiding Adapt the model, the
    learning switch; a long paint-class name pushed more out. Long actions show short names on their buttons and
    the class name is cut (its tooltip has it whole)."""
    from PySide6.QtWidgets import QToolBar

    from tests.support.own_class_sites import add_classes
    _opened(qtbot, window, env)
    long_name = "a rather long class name for green glass shards"
    add_classes(window, long_name)
    window.ctl.editor.set_paint_class(len(window.ctl.classes.class_list) - 1)
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280, timeout=5000)
    QApplication.processEvents()
    bars = window.findChildren(QToolBar)
    hidden = [a.text() for tb in bars for a in tb.actions()
              if not a.isSeparator() and not tb.widgetForAction(a).isVisible()]
    assert window.learn.adapt_action in window.editing.toolbar.actions() and not hidden
    assert long_name in window.editing.class_label.toolTip()

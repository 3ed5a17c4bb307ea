"""The editing UI: tool actions (toolbar + Edit menu), paint class keys, brush size, undo/redo,
clear locks and auto-refine, bound to the Editor and the canvas.

Keys: B brush, E eraser (back to the model's labels, unlocked), V paint void (locked), G flood fill, P polygon/lasso,
S superpixel fill, I pick class, H pan; 0-9 paint class; [ and ] brush size; Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y)
undo / redo; Alt+click picks with any tool.
"""
from __future__ import annotations

import html

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QMenu, QSpinBox, QToolBar

from engine.labels import VOID
from gui.session.editor import Editor
from gui.tools import make_tools


CLASS_TEXT_PX = 160   # the paint class's name in the toolbar is cut to this: a long name hid the buttons after it
MEDIA_KEYS = (Qt.Key.Key_Undo, Qt.Key.Key_Redo)   # keys of some multimedia keyboards, not of a labeller's


def _unique(keys: list[QKeySequence]) -> list[QKeySequence]:
    """Shortcuts without repeats (a key listed twice makes Qt call it ambiguous), and without the platform's
    dedicated Undo/Redo keys: the shortcuts list would show them as a key called "Redo"."""
    out = []
    for k in keys:
        if not k.isEmpty() and k not in out and k[0].key() not in MEDIA_KEYS:
            out.append(k)
    return out


TOOL_TIPS = {"eraser": "Eraser: the pixels go back to the model's labels, unlocked (nothing is taught there)",
             "void": "Paint void: the pixels become void and stay so (locked); nothing learns from them"}
TOOL_KEYS = {"pan": "H", "brush": "B", "eraser": "E", "void": "V", "fill": "G", "polygon": "P", "superpixel": "S",
             "pick": "I"}


class EditActions(QObject):
    def __init__(self, window, editor: Editor):
        super().__init__(window)
        self.window, self.editor, self.canvas = window, editor, window.canvas
        self.tools = make_tools(editor)
        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusive(True)
        self.tool_actions: dict[str, QAction] = {}
        for name, title in [("pan", "Pan")] + [(t.name, t.title) for t in self.tools.values()]:
            act = QAction(title, self, checkable=True)
            act.setShortcut(QKeySequence(TOOL_KEYS[name]))
            act.setToolTip(f"{TOOL_TIPS.get(name, title)} ({TOOL_KEYS[name]})")
            act.triggered.connect(lambda _=False, n=name: self.set_tool(n))
            self.tool_group.addAction(act)
            self.tool_actions[name] = act
        self.undo = editor.group.createUndoAction(self, "&Undo")
        self.undo.setShortcuts(_unique([QKeySequence("Ctrl+Z"), QKeySequence(QKeySequence.StandardKey.Undo)]))
        self.undo.setProperty("help_name", "Undo")   # its text names the command it would undo
        self.redo = editor.group.createRedoAction(self, "&Redo")
        self.redo.setProperty("help_name", "Redo")
        self.redo.setShortcuts(_unique([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")]
                                       + QKeySequence.keyBindings(QKeySequence.StandardKey.Redo)))
        self.smaller = self._act("Smaller brush", "[", lambda: editor.grow(-1))
        self.larger = self._act("Larger brush", "]", lambda: editor.grow(+1))
        self.clear_locks = self._act("Clear &locks", "Ctrl+Shift+K", editor.clear_locks,
                                     "Unlock every hand-edited pixel of this image (undoable)")
        self.auto_refine = QAction("&Auto-refine after edit", self, checkable=True)
        self.auto_refine.setIconText("Auto-refine")   # its toolbar button (the menu keeps the full name)
        self.auto_refine.setToolTip("Re-run the CRF after each edit, so a correction spreads to similar pixels")
        self.class_keys = [self._act(f"Paint class {k}", str(k), lambda _=False, k=k: editor.set_paint_class(k))
                           for k in range(10)]
        for act in self.class_keys + [self.smaller, self.larger]:
            window.addAction(act)   # keys work without a menu entry
        self.toolbar = self._build_toolbar()
        self.menu = self._build_menu()
        for tool in self.tools.values():
            if hasattr(tool, "attach"):
                tool.attach(self)   # a tool's own controls (the superpixel size)
        editor.paint_class_changed.connect(lambda _c: self.refresh())
        editor.radius_changed.connect(self._on_radius)
        last = window.prefs.tool
        self.set_tool(last if last in self.tool_actions else "pan")

    def _act(self, text: str, key: str, slot, tip: str = "") -> QAction:
        act = QAction(text, self)
        act.setShortcut(QKeySequence(key))
        act.setToolTip(f"{tip or text} ({key})")
        act.triggered.connect(slot)
        return act

    def _build_toolbar(self) -> QToolBar:
        tb = QToolBar("Tools", self.window)
        tb.setObjectName("tools_toolbar")
        for act in self.tool_actions.values():
            tb.addAction(act)
        tb.addSeparator()
        self.class_label = QLabel()
        self.class_label.setTextFormat(Qt.TextFormat.RichText)   # (plain text would show the &nbsp; when no swatch)
        self.class_label.setToolTip("Paint class: keys 0-9, click a class in the Classes panel, or I / Alt+click")
        tb.addWidget(self.class_label)
        tb.addWidget(QLabel(" Size "))
        self.size_box = QSpinBox()
        self.size_box.setRange(0, Editor.MAX_RADIUS)
        self.size_box.setValue(self.editor.radius)
        self.size_box.setToolTip("Brush radius in image pixels ([ and ])")
        self.size_box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.size_box.valueChanged.connect(self.editor.set_radius)
        tb.addWidget(self.size_box)
        tb.addSeparator()
        tb.addAction(self.auto_refine)
        return tb

    def _build_menu(self) -> QMenu:
        m = QMenu("&Edit", self.window)
        m.addAction(self.undo)
        m.addAction(self.redo)
        m.addSeparator()
        for act in self.tool_actions.values():
            m.addAction(act)
        m.addAction(self.smaller)
        m.addAction(self.larger)
        m.addSeparator()
        m.addAction(self.clear_locks)
        m.addAction(self.auto_refine)
        return m

    # ----- state ------------------------------------------------------------------------------------
    @property
    def tool_name(self) -> str:
        tool = self.canvas.tool
        return "pan" if tool is None else tool.name

    def set_tool(self, name: str) -> None:
        """'pan' (no tool: left-drag pans), 'brush', 'eraser', 'void', 'fill', 'polygon', 'superpixel' or 'pick'."""
        self.canvas.set_tool(self.tools.get(name))
        self.tool_actions[name].setChecked(True)
        self.window.prefs.tool = name
        self.refresh()

    def _on_radius(self, radius: int) -> None:
        if self.size_box.value() != radius:
            self.size_box.setValue(radius)
        self.refresh()

    def class_text(self) -> str:
        c = self.editor.paint_class
        cl = self.window.ctl.classes.class_list
        if c == VOID:
            return "void"
        name = cl.names[c] if cl is not None and c < len(cl) else "?"
        return f"{c} {name}"

    def refresh(self) -> None:
        """Show the tool, paint class and brush size in the toolbar and status bar."""
        c, cl = self.editor.paint_class, self.window.ctl.classes.class_list
        swatch = ""
        if cl is not None and c < len(cl):
            r, g, b = cl.palette[c]
            swatch = f'<span style="background-color:#{r:02x}{g:02x}{b:02x}">&nbsp;&nbsp;&nbsp;&nbsp;</span> '
        text = self.class_text()
        shown = self.class_label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, CLASS_TEXT_PX)
        self.class_label.setText(f"&nbsp;Class: {swatch}{html.escape(shown)}&nbsp;")
        self.class_label.setToolTip(f"Paint class {text}: keys 0-9, click a class in the Classes panel, or I / "
                                    "Alt+click")
        name = self.tool_name
        title = "Pan" if name == "pan" else self.tools[name].title
        parts = [title]
        if name in ("brush", "eraser", "void"):
            parts.append(f"r {self.editor.radius}")
        if hasattr(self.tools.get(name), "status_extra"):
            parts.append(self.tools[name].status_extra())
        if name not in ("pan", "eraser", "void"):
            parts.append(f"class {self.class_text()}")
        self.window.status.set_tool(" · ".join(parts))

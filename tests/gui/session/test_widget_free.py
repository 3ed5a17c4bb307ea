"""gui/session/ is the widget-free session: QObjects, lanes and the open image, drivable without a window. Its
modules import no QtWidgets and nothing from the widget packages above them (canvas, tools, panels, menus,
dialogs, window), so tests and headless tools can run the whole flow."""
import ast

from tests.support.paths import ROOT

WIDGET_PACKAGES = ("gui.canvas", "gui.tools", "gui.panels", "gui.menus", "gui.dialogs", "gui.window",
                   "gui.main_window", "gui.app")


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def _offending(module: str) -> bool:
    return module.startswith("PySide6.QtWidgets") or module.startswith(WIDGET_PACKAGES)


def test_session_imports_no_widgets():
    found = {f"{p.relative_to(ROOT)}: {m}" for p in sorted((ROOT / "gui" / "session").glob("*.py"))
             for m in _imports(p) if _offending(m)}
    assert not found, sorted(found)


def test_the_check_sees_a_widget_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from PySide6.QtWidgets import QLabel\n    from gui.panels import crf\n")
    assert [m for m in _imports(probe) if _offending(m)] == ["PySide6.QtWidgets", "PySide6.QtWidgets.QLabel",
                                                          "gui.panels", "gui.panels.crf"]

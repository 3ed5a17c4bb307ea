"""gui/session/ is the widget-free session: QObjects, lanes and the open image, drivable without a window, so tests
and headless tools can run the whole flow. Its modules import no QtWidgets, not even inside a function (the
packages it may import are checked by tests/test_architecture.py, GUI_LAYERS)."""
import ast

from tests.support.paths import ROOT


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def test_session_imports_no_qtwidgets():
    found = {f"{p.relative_to(ROOT)}: {m}" for p in sorted((ROOT / "gui" / "session").glob("*.py"))
             for m in _imports(p) if m.startswith("PySide6.QtWidgets")}
    assert not found, sorted(found)


def test_the_check_sees_a_function_level_widget_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from PySide6.QtWidgets import QLabel\n    from PySide6.QtCore import QObject\n")
    assert [m for m in _imports(probe) if m.startswith("PySide6.QtWidgets")] == ["PySide6.QtWidgets"]

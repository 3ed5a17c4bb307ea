"""The window's slow first imports happen on a thread, not on the GUI thread when a model's palette binds."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# In a fresh process: a window, its preload done, then the palette bind that picks the changed-by-CRF colour.
SCRIPT = textwrap.dedent("""
    import sys
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from gui.boot import preload
    from gui.main_window import MainWindow
    from engine.labels import voc_palette
    assert "skimage.color.colorconv" not in sys.modules, "imported before the window: the test proves nothing"
    w = MainWindow()
    assert preload.done.wait(30), "the preload thread did not finish"
    before = set(sys.modules)
    w.presenter.bind(None, voc_palette(21))
    print(sorted(set(sys.modules) - before))
""")


def test_palette_bind_imports_nothing_on_the_gui_thread(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"

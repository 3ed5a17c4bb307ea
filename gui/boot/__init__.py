"""gui.boot."""

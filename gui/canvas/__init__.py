"""gui.canvas."""

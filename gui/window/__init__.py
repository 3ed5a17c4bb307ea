"""gui.window."""

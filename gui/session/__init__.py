"""gui.session."""

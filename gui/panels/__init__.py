"""gui.panels."""

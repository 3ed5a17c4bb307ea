"""tests.gui.session."""

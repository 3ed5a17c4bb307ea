"""tests.gui."""

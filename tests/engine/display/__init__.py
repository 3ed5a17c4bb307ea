"""tests.engine.display."""

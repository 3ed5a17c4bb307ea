"""tests.engine.project."""

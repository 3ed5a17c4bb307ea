"""tests.engine.folder."""

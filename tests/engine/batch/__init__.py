"""tests.engine.batch."""

"""tests.engine.io."""

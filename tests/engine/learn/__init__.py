"""tests.engine.learn."""

"""tests.engine.eval."""

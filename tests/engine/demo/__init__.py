"""tests.engine.demo."""

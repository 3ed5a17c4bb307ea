"""tests.engine.annotate."""

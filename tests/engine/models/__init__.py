"""tests.engine.models."""

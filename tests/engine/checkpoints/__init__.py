"""tests.engine.checkpoints."""

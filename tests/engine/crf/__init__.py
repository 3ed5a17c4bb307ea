"""tests.engine.crf."""

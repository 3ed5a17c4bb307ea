"""engine.display."""

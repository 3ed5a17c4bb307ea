"""engine.annotate."""

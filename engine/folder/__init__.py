"""engine.folder."""

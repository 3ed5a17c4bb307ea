"""gui.menus."""

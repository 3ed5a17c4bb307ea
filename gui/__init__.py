"""The window (PySide6), by role: boot, session (widget-free), canvas, tools, panels, menus, dialogs, window;
app.py starts it, main_window.py assembles it."""

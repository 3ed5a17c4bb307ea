"""Before the window exists: the Qt system-library check (qt_libs.py), the splash and start-up trace (splash.py),
the app icon (icon.py), the
imports the window needs soon, started on a thread (preload.py)."""

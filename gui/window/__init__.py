"""The window frame: dock layout and theme (layout.py), title and resume (title.py), drag and drop (drop.py), and
every QSettings key, typed (preferences.py)."""

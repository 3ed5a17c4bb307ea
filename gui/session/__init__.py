"""The widget-free session: the controller and the services it composes (the open image, its history, the editor,
CRF requests, classes, the model loader, ordering, adaptation, recovery, the folder guard, prefetch), their lanes
and keys. No QtWidgets import (tests/gui/session/test_widget_free.py)."""

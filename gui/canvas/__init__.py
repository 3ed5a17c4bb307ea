"""The image view: the zoomable canvas (canvas.py), the overlays drawn on it (overlays.py), the uncertainty legend
and numpy-to-QImage conversion."""
